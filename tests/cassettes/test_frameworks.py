"""The same cassette machinery for each of the four frameworks, unscripted agents with tools:
record through the pass-through emulator against a second emulator, replay with it stopped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import record_and_replay

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])
LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


class WeatherReport(BaseModel):
    """A weather report for one city."""

    city: str
    temperature_c: float


def test_langchain_agent_and_stream(kluster_emulator: Emulator, upstream: Emulator, tmp_path: Path) -> None:
    pytest.importorskip("langchain")
    from langchain.agents import create_agent
    from langchain_core.tools import tool

    from kluster_agents.adapters.langchain import ChatKluster

    @tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return f"18 °C and sunny in {city}"

    def scenario(emulator: Emulator) -> tuple[Any, str]:
        model = ChatKluster(model=LLAMA, api_key=emulator.api_key, base_url=emulator.base_url, max_retries=0)
        agent = create_agent(model, tools=[get_weather], response_format=WeatherReport)
        state = agent.invoke({"messages": [{"role": "user", "content": "What's the weather in Paris right now?"}]})
        streamed = "".join(str(chunk.content) for chunk in model.stream("Say hello in three words."))
        return state["structured_response"], streamed

    result = record_and_replay(kluster_emulator, upstream, tmp_path / "langchain.json", scenario)
    assert result.replayed == result.recorded
    assert result.recorded[0] == WeatherReport(city="Paris", temperature_c=18) and result.recorded[1]


def test_litellm_tool_loop(
    kluster_emulator: Emulator, upstream: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    litellm = pytest.importorskip("litellm")
    from kluster_agents.adapters.litellm import register

    monkeypatch.setattr(litellm, "disable_hf_tokenizer_download", True)
    monkeypatch.setattr(litellm, "suppress_debug_info", True)
    register()
    calculator = {
        "type": "function",
        "function": {
            "name": "calculator",
            "description": "Evaluate an arithmetic expression",
            "parameters": {
                "type": "object",
                "properties": {"expression": {"type": "string"}},
                "required": ["expression"],
            },
        },
    }

    def scenario(emulator: Emulator) -> list[Any]:
        monkeypatch.setenv("KLUSTER_BASE_URL", emulator.base_url)
        monkeypatch.setenv("KLUSTER_API_KEY", emulator.api_key)
        messages: list[Any] = [{"role": "user", "content": "What is 1337 times 42?"}]
        for _turn in range(4):
            response = litellm.completion(model=f"kluster/{LLAMA}", messages=messages, tools=[calculator])
            message = response.choices[0].message
            if not message.tool_calls:
                break
            messages.append(message.model_dump())
            for call in message.tool_calls:
                left, right = json.loads(call.function.arguments)["expression"].split("*")
                messages.append({"role": "tool", "tool_call_id": call.id, "content": str(int(left) * int(right))})
        return [*messages[1:], {"final": message.content}]

    result = record_and_replay(kluster_emulator, upstream, tmp_path / "litellm.json", scenario)
    assert result.replayed == result.recorded
    assert "56154" in result.recorded[-1]["final"]


def test_crewai_crew_with_tool_and_output_pydantic(
    kluster_emulator: Emulator, upstream: Emulator, tmp_path: Path
) -> None:
    pytest.importorskip("crewai")
    from crewai import Agent, Crew, Task
    from crewai.tools import tool

    from kluster_agents.adapters.crewai import kluster_llm

    @tool("get_weather")
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return f"21 °C and clear in {city}"

    def scenario(emulator: Emulator) -> Any:
        agent = Agent(
            role="Researcher",
            goal="Answer precisely",
            backstory="You are careful.",
            llm=kluster_llm(LLAMA, settings=emulator.settings),
            tools=[get_weather],
            max_iter=4,
        )
        task = Task(
            description="What is the weather in Madrid? Use the weather tool.",
            expected_output="A short answer",
            agent=agent,
            output_pydantic=WeatherReport,
        )
        return Crew(agents=[agent], tasks=[task]).kickoff().pydantic

    result = record_and_replay(kluster_emulator, upstream, tmp_path / "crewai.json", scenario)
    assert result.replayed == result.recorded
    assert isinstance(result.recorded, WeatherReport) and result.recorded.city == "Madrid"


def test_pydantic_ai_agent_with_output_type_and_tool(
    kluster_emulator: Emulator, upstream: Emulator, tmp_path: Path
) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent

    from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model

    class Stock(BaseModel):
        product: str
        units: int
        reorder: bool

    def scenario(emulator: Emulator) -> Stock:
        model = kluster_model(LLAMA, provider=KlusterProvider(settings=emulator.settings))
        agent = Agent(model, output_type=Stock, instructions="Answer with the stock level.")

        @agent.tool_plain
        def check_stock(product: str) -> str:
            """Look up how many units of a product are in stock."""
            return f"42 units of {product} in stock"

        return agent.run_sync("How many units of the 'widget' product do we have in stock?").output

    result = record_and_replay(kluster_emulator, upstream, tmp_path / "pydantic_ai.json", scenario)
    assert result.replayed == result.recorded
    assert result.recorded.units == 42 and result.recorded.product == "widget"
