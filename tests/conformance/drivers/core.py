"""The core client as a user without a framework writes it: `make_client`, `run_batch`, `verify`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kluster_agents.integrations import make_async_client, make_client, run_batch
from kluster_agents.integrations._api.reasoning import split_reasoning
from kluster_agents.integrations._api.structured import parse_structured, schema_instructions
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode, with_adaptive
from kluster_agents.integrations._verify.client import verify

from .._matrix import (
    TEXT_PROMPT,
    WEATHER_TOOL,
    Cell,
    Outcome,
    Person,
    user_content,
)

FRAMEWORK = "core"


def _request(cell: Cell) -> dict[str, Any]:
    user = user_content(cell.capability)
    messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
    body: dict[str, Any] = {"model": cell.model, "messages": messages}
    if cell.capability == "tools":
        body["tools"] = [WEATHER_TOOL]
    elif cell.capability == "structured":
        messages.insert(0, {"role": "system", "content": schema_instructions(Person)})
    elif cell.capability == "json_mode":
        body["response_format"] = {"type": "json_object"}
    return body


def _complete(cell: Cell, body: dict[str, Any]) -> Any:
    """One chat completion in the cell's mode, as a message-like (content, tool_calls)."""
    if cell.mode == "realtime":
        return make_client().chat.completions.create(**body).choices[0].message
    if cell.mode == "adaptive":
        body = with_adaptive(body, AdaptiveMode(completion_window="1h"))
        return make_client().chat.completions.create(**body).choices[0].message
    if cell.mode == "async":

        async def call() -> Any:
            return (await make_async_client().chat.completions.create(**body)).choices[0].message

        return asyncio.run(call())
    if cell.mode == "batch":
        return run_batch([body])[0].unwrap().choices[0].message
    stream = make_client().chat.completions.create(**body, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    return _Message(text)


class _Message:
    def __init__(self, content: str) -> None:
        self.content = content
        self.tool_calls = None


def run(cell: Cell) -> Outcome:
    body = _request(cell)
    if cell.capability == "tools" and cell.mode == "stream":
        body["stream_options"] = None  # collected below from the deltas' tool calls
        return _streamed_tool_call(body)
    message = _complete(cell, body)
    split = split_reasoning(message.content)
    outcome = Outcome(content=split.content, reasoning=split.reasoning)
    if cell.capability == "tools":
        outcome.tool_calls = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
    elif cell.capability == "structured":
        outcome.parsed = parse_structured(split.content, Person)
    elif cell.capability == "json_mode":
        outcome.parsed = json.loads(split.content)
    elif cell.capability == "verify":
        outcome.verdict = verify(TEXT_PROMPT, split.content)
    return outcome


def _streamed_tool_call(body: dict[str, Any]) -> Outcome:
    body.pop("stream_options")
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    for chunk in make_client().chat.completions.create(**body, stream=True):
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if call.function and call.function.name:
                names[call.index] = call.function.name
            arguments[call.index] = arguments.get(call.index, "") + ((call.function and call.function.arguments) or "")
    return Outcome(tool_calls=[(names[i], json.loads(arguments[i] or "{}")) for i in sorted(names)])
