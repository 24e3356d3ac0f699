"""PydanticAI conformance driver: one cell = one agent run, through the public API only.

Modes: realtime `run_sync`, stream `run_stream`, async `await agent.run`, batch
`run_many(via="batch")`, adaptive `KlusterModelSettings(kluster_adaptive=True)`.
Capabilities: tools end the run with the model's calls unexecuted (`requires_approval` tools and
`DeferredToolRequests` output, pydantic-ai's own human-in-the-loop path); structured is
`output_type=Person`; JSON mode is `PromptedOutput` (sent as `response_format` json_object);
reasoning keeps the `ThinkingPart`s apart; verify is the Verify output validator.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_ai import Agent, BinaryContent, DeferredToolRequests, PromptedOutput, StructuredDict, Tool
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ThinkingPart
from pydantic_ai.run import AgentRunResult

from kluster_agents.adapters.pydantic_ai import (
    KlusterModelSettings,
    kluster_model,
    run_many_sync,
    verify_output_validator,
)
from kluster_agents.integrations import VerifyOutcome
from kluster_agents.integrations._verify.policy import METADATA_KEY

from .._matrix import (
    IMAGE_DATA_URL,
    JSON_PROMPT,
    STRUCTURED_PROMPT,
    TEXT_PROMPT,
    TOOL_PROMPT,
    VISION_TEXT,
    Cell,
    Outcome,
    Person,
    get_weather,
)

FRAMEWORK = "pydantic_ai"


def _agent(cell: Cell) -> tuple[Agent[Any, Any], str | Sequence[Any]]:
    model = kluster_model(cell.model)
    capability = cell.capability
    if capability == "tools":
        tool = Tool(get_weather, requires_approval=True)  # the run ends with the call, unexecuted
        return Agent(model, tools=[tool], output_type=[str, DeferredToolRequests]), TOOL_PROMPT
    if capability == "structured":
        return Agent(model, output_type=Person), STRUCTURED_PROMPT
    if capability == "json_mode":
        # any JSON object (a dict output, not wrapped in {"response": ...}), sent in JSON mode
        return Agent(model, output_type=PromptedOutput(StructuredDict({"type": "object"}, name="JSON"))), JSON_PROMPT
    if capability == "vision":
        return Agent(model), [VISION_TEXT, BinaryContent.from_data_uri(IMAGE_DATA_URL)]
    if capability == "verify":
        agent: Agent[Any, Any] = Agent(model, metadata={})
        agent.output_validator(verify_output_validator())
        return agent, TEXT_PROMPT
    return Agent(model), TEXT_PROMPT  # text, reasoning


@dataclass
class _Run:
    """What a finished run exposes, streamed or not."""

    output: Any
    messages: list[ModelMessage]
    metadata: dict[str, Any] | None
    streamed_text: str | None = None


def _done(result: AgentRunResult[Any]) -> _Run:
    return _Run(result.output, result.all_messages(), result.metadata)


async def _streamed(agent: Agent[Any, Any], prompt: str | Sequence[Any], capability: str) -> _Run:
    """A streamed run: text by its deltas, other outputs as the stream's final output."""
    async with agent.run_stream(prompt) as stream:
        text = None
        if capability in ("text", "reasoning", "vision", "verify"):
            text = "".join([chunk async for chunk in stream.stream_text(delta=True)])
        output = await stream.get_output()
    return _Run(output, stream.all_messages(), stream.metadata, text)


def _run(cell: Cell) -> _Run:
    agent, prompt = _agent(cell)
    if cell.mode == "realtime":
        return _done(agent.run_sync(prompt))
    if cell.mode == "stream":
        return asyncio.run(_streamed(agent, prompt, cell.capability))
    if cell.mode == "async":
        return _done(asyncio.run(agent.run(prompt)))
    if cell.mode == "batch":
        (outcome,) = run_many_sync(agent, [{"user_prompt": prompt}], via="batch")
        outcome.unwrap()  # the run's own error, as the library raised it
        assert outcome.result is not None
        return _done(outcome.result)
    if cell.mode == "adaptive":
        return _done(agent.run_sync(prompt, model_settings=KlusterModelSettings(kluster_adaptive=True)))
    raise AssertionError(f"unknown mode {cell.mode!r}")


def _last_response(messages: list[ModelMessage]) -> ModelResponse:
    return next(m for m in reversed(messages) if isinstance(m, ModelResponse))


def run(cell: Cell) -> Outcome:
    result = _run(cell)
    response = _last_response(result.messages)
    text = "".join(p.content for p in response.parts if isinstance(p, TextPart))
    thinking = "".join(p.content for p in response.parts if isinstance(p, ThinkingPart)) or None
    output = result.output
    content = result.streamed_text if result.streamed_text is not None else output
    outcome = Outcome(content=content if isinstance(content, str) else text, reasoning=thinking)
    if isinstance(output, DeferredToolRequests):
        outcome.tool_calls = [(call.tool_name, call.args_as_dict()) for call in output.approvals]
    elif cell.capability == "structured":
        outcome.parsed = output
    elif cell.capability == "json_mode":
        outcome.content = text  # the model's JSON text; `output` is pydantic-ai's validated parse of it
        outcome.parsed = json.loads(text)
        assert outcome.parsed == output
    if cell.capability == "verify":
        outcome.verdict = VerifyOutcome.from_metadata(result.metadata[METADATA_KEY])  # type: ignore[index]
    return outcome
