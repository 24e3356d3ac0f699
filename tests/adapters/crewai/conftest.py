"""Fixtures for the CrewAI adapter tests: crews run against the embedded emulator (telemetry is
switched off by the suite's conftest before crewai is imported)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("crewai")

from crewai import Agent, Crew, Task
from crewai.tools import tool

from kluster_agents.adapters.crewai import KlusterCompletion, kluster_llm
from kluster_agents.integrations._api.settings import KlusterSettings

TOOL_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
TEXT_MODEL = "mistralai/Mistral-Nemo-Instruct-2407"  # no tools in the catalog: CrewAI uses ReAct text


@tool("word_count")
def _word_count(text: str) -> str:
    """Count the words in a text."""
    return f"{len(text.split())} words"


@pytest.fixture
def word_count() -> Any:
    """A CrewAI tool the agents can call."""
    return _word_count


@pytest.fixture
def emu_settings(kluster_emulator: Any) -> KlusterSettings:
    return kluster_emulator.settings


@pytest.fixture
def make_llm(emu_settings: KlusterSettings) -> Callable[..., KlusterCompletion]:
    def build(model: str = TOOL_MODEL, **params: Any) -> KlusterCompletion:
        return kluster_llm(model, settings=emu_settings, **params)

    return build


@pytest.fixture
def chat_bodies(kluster_emulator: Any) -> Callable[[], list[dict[str, Any]]]:
    """The JSON bodies of every chat completion the emulator received, oldest first."""

    def bodies() -> list[dict[str, Any]]:
        return [r.body for r in kluster_emulator.controls.requests if r.path.endswith("/chat/completions")]

    return bodies


def _single_task_crew(
    llm: Any, *, tools: list[Any] | None = None, description: str = "Describe {topic}.", **task_options: Any
) -> Crew:
    """One agent, one task: the smallest crew that exercises the agent loop."""
    agent = Agent(
        role="Researcher", goal="Answer precisely", backstory="You are careful.", llm=llm, tools=tools or [], max_iter=4
    )
    task = Task(description=description, expected_output="A short answer", agent=agent, **task_options)
    return Crew(agents=[agent], tasks=[task])


@pytest.fixture
def crew_of() -> Callable[..., Crew]:
    """`crew_of(llm, tools=[...], description=..., **task_options)` -> a one-agent, one-task crew."""
    return _single_task_crew
