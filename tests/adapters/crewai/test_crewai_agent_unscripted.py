"""Unscripted on the emulator: a crew whose task has `output_pydantic` and a tool completes."""

from __future__ import annotations

from typing import Any

from crewai.tools import tool
from pydantic import BaseModel


class Weather(BaseModel):
    city: str
    temperature_c: float


@tool("get_weather")
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"21 °C and clear in {city}"


def test_crew_with_output_pydantic_and_a_tool_completes(make_llm: Any, crew_of: Any, chat_bodies: Any) -> None:
    crew = crew_of(
        make_llm(),
        tools=[get_weather],
        description="What is the weather in Madrid? Use the weather tool.",
        output_pydantic=Weather,
    )
    result = crew.kickoff()
    assert isinstance(result.pydantic, Weather)
    assert result.pydantic.city == "Madrid"
    called = [
        call["function"]["name"]
        for body in chat_bodies()
        for m in body["messages"]
        if m.get("role") == "assistant"
        for call in m.get("tool_calls") or []
    ]
    assert "get_weather" in called
