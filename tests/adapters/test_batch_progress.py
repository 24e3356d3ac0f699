"""Progress display of the frameworks' batch modes (a long wait must show it is alive): LangChain `batch=True`, LiteLLM's
`batch_completion_via_api`, CrewAI `kickoff_for_each_batched`, PydanticAI `run_many`.

Under pytest standard output is captured (not a terminal), so the default ('auto') shows nothing;
`progress=True` (or KLUSTER_PROGRESS=on) shows rich's progress display, captured here."""

from __future__ import annotations

from typing import Any

import pytest

from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._jobs.polling import progress_enabled

pytestmark = pytest.mark.kluster_emulator(timing="instant")

MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
PROMPTS = ["one", "two", "three"]


def _langchain(emulator: Any, progress: bool | None) -> None:
    pytest.importorskip("langchain_openai")
    from kluster_agents.adapters.langchain import ChatKluster

    chat = ChatKluster(
        model=MODEL, kluster_settings=emulator.settings, batch=True, batch_progress=progress, batch_poll_interval=0.01
    )
    assert len(chat.batch(PROMPTS)) == len(PROMPTS)


def _litellm(emulator: Any, progress: bool | None) -> None:
    pytest.importorskip("litellm")
    from kluster_agents.adapters.litellm import batch_completion_via_api

    requests = [{"model": f"kluster/{MODEL}", "messages": [{"role": "user", "content": p}]} for p in PROMPTS]
    options: dict[str, Any] = {} if progress is None else {"progress": progress}
    responses = batch_completion_via_api(
        requests, settings=emulator.settings, journal=False, poll_interval=0.01, **options
    )
    assert len(responses) == len(PROMPTS)


def _crewai(emulator: Any, progress: bool | None) -> None:
    pytest.importorskip("crewai")
    from crewai import Agent, Crew, Task

    from kluster_agents.adapters.crewai import kickoff_for_each_batched, kluster_llm

    agent = Agent(role="Writer", goal="Write", backstory="Writes", llm=kluster_llm(MODEL, settings=emulator.settings))
    crew = Crew(agents=[agent], tasks=[Task(description="Write about {topic}", expected_output="text", agent=agent)])
    inputs = [{"topic": p} for p in PROMPTS]
    assert len(kickoff_for_each_batched(crew, inputs, poll_interval=0.01, progress=progress)) == len(PROMPTS)


def _pydantic_ai(emulator: Any, progress: bool | None) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent

    from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model, run_many_sync

    agent = Agent(kluster_model(MODEL, provider=KlusterProvider(settings=emulator.settings)))
    outcomes = run_many_sync(agent, PROMPTS, poll_interval=0.01, progress=progress)
    assert [o.ok for o in outcomes] == [True] * len(PROMPTS)


RUNS = {"langchain": _langchain, "litellm": _litellm, "crewai": _crewai, "pydantic_ai": _pydantic_ai}


@pytest.mark.parametrize("framework", RUNS)
def test_off_when_not_a_terminal(framework: str, kluster_emulator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    RUNS[framework](kluster_emulator, None)
    assert "Batch " not in capsys.readouterr().out


@pytest.mark.parametrize("framework", RUNS)
def test_on_when_forced(framework: str, kluster_emulator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    RUNS[framework](kluster_emulator, True)
    out = capsys.readouterr().out
    assert "Batch " in out  # rich's final frame: the job's label and its count
    assert "/3" in out or "/1" in out or "/2" in out


def test_explicit_false_wins_over_the_setting(kluster_emulator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    settings = kluster_emulator.settings.model_copy(update={"progress": "on"})
    pytest.importorskip("langchain_openai")
    from kluster_agents.adapters.langchain import ChatKluster

    chat = ChatKluster(
        model=MODEL, kluster_settings=settings, batch=True, batch_progress=False, batch_poll_interval=0.01
    )
    chat.batch(PROMPTS)
    assert "Batch " not in capsys.readouterr().out


def test_setting_and_terminal_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert progress_enabled(True) and not progress_enabled(False)
    monkeypatch.setenv("KLUSTER_PROGRESS", "on")
    assert progress_enabled(None)
    monkeypatch.setenv("KLUSTER_PROGRESS", "false")
    assert not progress_enabled(None)
    monkeypatch.setenv("KLUSTER_PROGRESS", "auto")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich's own switch: treat stdout as a terminal
    assert progress_enabled(None)
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    assert not progress_enabled(None)
    assert KlusterSettings(progress=True).progress == "on"
