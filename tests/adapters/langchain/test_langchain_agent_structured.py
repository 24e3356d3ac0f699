"""`create_agent(model, tools=..., response_format=Schema)` on every chat model: a tool call where
the model has tools, prompted JSON where it has none (kluster has no json_schema response_format)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.tools import tool
from pydantic import BaseModel

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations._api.errors import KlusterUnsupportedError

TOOL_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
NO_TOOL_MODELS = [
    "mistralai/Mistral-Nemo-Instruct-2407",
    "deepseek-ai/DeepSeek-R1-0528",
    "google/gemma-3-27b-it",
    "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "mistralai/Magistral-Small-2506",
]
PROMPT = "Ada Lovelace is 36 years old."


class Person(BaseModel):
    name: str
    age: int


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}"


def chat(emulator: Any, model: str) -> ChatKluster:
    return ChatKluster(model=model, api_key=emulator.api_key, base_url=emulator.base_url)


def chat_bodies(emulator: Any) -> list[dict[str, Any]]:
    return [r.body for r in emulator.controls.requests if r.path.endswith("/chat/completions")]


@pytest.mark.parametrize("model", NO_TOOL_MODELS)
def test_agent_structured_response_on_a_model_without_tools(kluster_emulator: Any, model: str) -> None:
    agent = create_agent(chat(kluster_emulator, model), tools=[], response_format=Person)
    state = agent.invoke({"messages": [{"role": "user", "content": PROMPT}]})
    assert state["structured_response"] == Person(name="Ada Lovelace", age=36)
    assert all("tools" not in b and "response_format" not in b for b in chat_bodies(kluster_emulator))


async def test_agent_structured_response_without_tools_async(kluster_emulator: Any) -> None:
    agent = create_agent(chat(kluster_emulator, NO_TOOL_MODELS[0]), tools=[], response_format=Person)
    state = await agent.ainvoke({"messages": [{"role": "user", "content": PROMPT}]})
    assert state["structured_response"] == Person(name="Ada Lovelace", age=36)


def test_agent_on_a_model_without_tools_still_refuses_real_tools(kluster_emulator: Any) -> None:
    agent = create_agent(chat(kluster_emulator, NO_TOOL_MODELS[0]), tools=[get_weather], response_format=Person)
    with pytest.raises(KlusterUnsupportedError, match="no tool calling"):
        agent.invoke({"messages": [{"role": "user", "content": PROMPT}]})
    assert chat_bodies(kluster_emulator) == []


@pytest.mark.parametrize("tools", [[], [get_weather]], ids=["no-tools", "tools"])
def test_agent_structured_response_on_a_tool_model_uses_a_tool_call(kluster_emulator: Any, tools: list) -> None:
    agent = create_agent(chat(kluster_emulator, TOOL_MODEL), tools=tools, response_format=Person)
    state = agent.invoke({"messages": [{"role": "user", "content": PROMPT}]})
    assert state["structured_response"] == Person(name="Ada Lovelace", age=36)
    assert any(t["function"]["name"] == "Person" for t in chat_bodies(kluster_emulator)[-1]["tools"])


def test_profile_sends_agents_to_the_strategy_the_model_can_serve() -> None:
    assert ChatKluster(api_key="k", model=TOOL_MODEL).profile["structured_output"] is False  # ToolStrategy
    assert ChatKluster(api_key="k", model=NO_TOOL_MODELS[0]).profile["structured_output"] is True  # prompted JSON
