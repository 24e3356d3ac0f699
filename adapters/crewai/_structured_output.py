"""Structured output for CrewAI's `response_model` without `response_format` (kluster refuses it).

A `StructuredOutputRun` is the framework-free retry loop, written once for the sync and the
async LLM paths: iterate it to get each request to send, hand each completion to `receive()`;
when the iteration ends, `result` holds the validated pydantic instance. On tool models the
request forces one call of a tool whose parameters are the model's JSON Schema; elsewhere the
schema goes into the system prompt (prompted JSON, `integrations/structured.py`). An unusable
reply is answered with feedback and retried `retries` times, then the last
`KlusterStructuredOutputError` is raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from kluster_agents.integrations._api.reasoning import split_reasoning
from kluster_agents.integrations._api.structured import (
    KlusterStructuredOutputError,
    json_schema_of,
    parse_structured,
    retry_feedback,
    schema_instructions,
)

# Request parameters that belong to CrewAI's own structured/streaming paths, not to ours.
_REPLACED_PARAMS = ("response_format", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls")


def output_tool(schema: type[BaseModel]) -> dict[str, Any]:
    """The function tool whose arguments are an instance of `schema`."""
    description = (schema.__doc__ or "").strip() or f"Return the final answer as a {schema.__name__} object."
    return {
        "type": "function",
        "function": {"name": schema.__name__, "description": description, "parameters": json_schema_of(schema)},
    }


def _with_system_text(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Append `text` to the first system message (or add one in front)."""
    for i, message in enumerate(messages):
        if message.get("role") == "system" and isinstance(message.get("content"), str):
            return [*messages[:i], {**message, "content": f"{message['content']}\n\n{text}"}, *messages[i + 1 :]]
    return [{"role": "system", "content": text}, *messages]


class StructuredOutputRun:
    """One structured-output exchange: requests out, completions in, a validated model at the end."""

    def __init__(self, params: dict[str, Any], schema: type[BaseModel], *, use_tools: bool, retries: int) -> None:
        self.schema = schema
        self.use_tools = use_tools
        self._base = {k: v for k, v in params.items() if k not in _REPLACED_PARAMS}
        messages = list(self._base.pop("messages"))
        self.messages = messages if use_tools else _with_system_text(messages, schema_instructions(schema))
        self._attempts_left = retries + 1
        self._error: KlusterStructuredOutputError | None = None
        self.result: BaseModel | None = None
        self.usage: dict[str, int] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

    def _request(self) -> dict[str, Any]:
        request = {**self._base, "messages": list(self.messages)}
        if self.use_tools:
            request["tools"] = [output_tool(self.schema)]
            request["tool_choice"] = {"type": "function", "function": {"name": self.schema.__name__}}
        return request

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while self.result is None:
            if self._attempts_left == 0:
                assert self._error is not None
                raise self._error
            self._attempts_left -= 1
            yield self._request()

    def receive(self, completion: Any) -> None:
        """Take one ChatCompletion: keep the validated result, or queue feedback for a retry."""
        usage = getattr(completion, "usage", None)
        for key in self.usage:
            self.usage[key] += int(getattr(usage, key, 0) or 0)
        message = completion.choices[0].message
        calls = [c for c in (message.tool_calls or []) if getattr(c, "function", None) is not None]
        raw = calls[0].function.arguments if calls else split_reasoning(message.content or "").content
        try:
            self.result = parse_structured(raw, self.schema)
        except KlusterStructuredOutputError as exc:
            self._error = exc
            self.messages = [
                *self.messages,
                {"role": "assistant", "content": raw},
                {"role": "user", "content": retry_feedback(exc, self.schema)},
            ]
