"""PydanticAI on kluster: reasoning models give `ThinkingPart`s, and a streamed run has real `RunUsage`."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart, ThinkingPart

from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model

R1 = "deepseek-ai/DeepSeek-R1-0528"
LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


def _agent(emulator: Any, model: str) -> Agent:
    return Agent(kluster_model(model, provider=KlusterProvider(settings=emulator.settings)))


def test_reasoning_model_yields_a_thinking_part(kluster_emulator: Any) -> None:
    result = _agent(kluster_emulator, R1).run_sync("Why is the sky blue?")
    response = next(m for m in result.all_messages() if isinstance(m, ModelResponse))
    thinking = [p for p in response.parts if isinstance(p, ThinkingPart)]
    assert thinking and "Why is the sky blue" in thinking[0].content
    assert "<think>" not in result.output and result.output.strip().startswith("[emulated]")
    assert any(isinstance(p, TextPart) for p in response.parts)


async def test_streamed_reasoning_keeps_thinking_out_of_the_text(kluster_emulator: Any) -> None:
    async with _agent(kluster_emulator, R1).run_stream("Why is the sky blue?") as result:
        text = "".join([c async for c in result.stream_text(delta=True)])
    assert "<think>" not in text and "[emulated]" in text


@pytest.mark.parametrize("accept", [False, True], ids=["refused-estimated", "accepted-real"])
async def test_run_usage_after_a_stream_is_not_zero(kluster_emulator: Any, accept: bool) -> None:
    kluster_emulator.controls.accept_stream_options = accept
    async with _agent(kluster_emulator, LLAMA).run_stream("Tell me about the sea") as result:
        [c async for c in result.stream_text(delta=True)]
    usage = result.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
