"""Unscripted on the emulator: LangChain `create_agent(model, tools, response_format=Model)` calls
the tool, then the structured-response tool, and returns a `structured_response`."""

from __future__ import annotations

from langchain.agents import create_agent
from langchain_core.tools import tool
from pydantic import BaseModel

from kluster_agents.adapters.langchain import ChatKluster

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


class WeatherReport(BaseModel):
    """A weather report for one city."""

    city: str
    temperature_c: float


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"18 °C and sunny in {city}"


def test_create_agent_with_tools_returns_a_structured_response(kluster_emulator) -> None:
    model = ChatKluster(model=LLAMA, api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url)
    agent = create_agent(model, tools=[get_weather], response_format=WeatherReport)
    state = agent.invoke({"messages": [{"role": "user", "content": "What's the weather in Paris right now?"}]})
    report = state["structured_response"]
    assert report == WeatherReport(city="Paris", temperature_c=18)
    tool_messages = [m for m in state["messages"] if m.type == "tool"]
    assert tool_messages[0].content == "18 °C and sunny in Paris"
