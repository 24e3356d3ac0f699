"""Unscripted on the emulator: a PydanticAI agent with `output_type` and a tool finishes with a
valid output — the emulated model calls the relevant tool, then the `final_result` output tool."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


class Stock(BaseModel):
    product: str
    units: int = Field(ge=0)
    reorder: bool


def test_agent_with_output_type_and_a_tool_finishes(kluster_emulator) -> None:
    model = kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings))
    agent = Agent(model, output_type=Stock, instructions="Answer with the stock level.")
    calls: list[str] = []

    @agent.tool_plain
    def check_stock(product: str) -> str:
        """Look up how many units of a product are in stock."""
        calls.append(product)
        return f"42 units of {product} in stock"

    result = agent.run_sync("How many units of the 'widget' product do we have in stock?")
    assert calls == ["widget"]
    assert isinstance(result.output, Stock)
    assert result.output.units == 42 and result.output.product == "widget"
    requests = [r.body for r in kluster_emulator.controls.requests if r.path == "/v1/chat/completions"]
    assert len(requests) == 2  # tool call, then the output tool: no retries
