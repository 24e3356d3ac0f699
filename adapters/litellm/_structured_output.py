"""`response_format` for `kluster/` models without sending a JSON schema to kluster.

kluster accepts JSON mode (`{"type": "json_object"}`, observed) but has no evidence for
`json_schema`, which LiteLLM sends for `response_format=Model`. Like LiteLLM does for groq, a
schema becomes a forced tool call on tool-capable models, whose arguments come back as the
message content; elsewhere the schema is prompted (`integrations.api.structured`), the reply
validated and retried with feedback. Callers get `message.content` holding the JSON either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kluster_agents.integrations._api.catalog import get_model, supports_tools
from kluster_agents.integrations._api.reasoning import split_reasoning
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._api.structured import (
    DEFAULT_MAX_RETRIES,
    KlusterStructuredOutputError,
    parse_structured,
    retry_feedback,
    schema_instructions,
)


@dataclass(frozen=True)
class SchemaRequest:
    """A `response_format` of type `json_schema`, taken out of the request."""

    name: str
    schema: dict[str, Any]
    use_tool: bool


def schema_request(kwargs: dict[str, Any], settings: KlusterSettings) -> SchemaRequest | None:
    """Pop a `json_schema` response_format from `create()` kwargs (json_object and text stay as they are)."""
    fmt = kwargs.get("response_format")
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema") or {}
    schema = dict(spec.get("schema") or {"type": "object"})
    kwargs.pop("response_format")
    for name in ("stream", "stream_options"):  # validated JSON is answered whole (one chunk when streaming)
        kwargs.pop(name, None)
    name = str(spec.get("name") or schema.get("title") or "response")
    return SchemaRequest(name, schema, supports_tools(get_model(kwargs["model"]), settings))


def tool_kwargs(kwargs: dict[str, Any], request: SchemaRequest) -> dict[str, Any]:
    """The request with the schema as a tool the model must call."""
    tool = {"type": "function", "function": {"name": request.name, "parameters": request.schema}}
    tools = [*(kwargs.get("tools") or []), tool]
    out = {**kwargs, "tools": tools}
    if not kwargs.get("tools"):
        out["tool_choice"] = {"type": "function", "function": {"name": request.name}}
    return out


def tool_call_to_content(body: dict[str, Any], request: SchemaRequest) -> dict[str, Any]:
    """Move the schema tool's arguments into `message.content` (other tool calls stay)."""
    for choice in body.get("choices") or []:
        message = choice.get("message") or {}
        calls = message.get("tool_calls") or []
        ours = [c for c in calls if (c.get("function") or {}).get("name") == request.name]
        if ours:
            message["content"] = ours[0]["function"].get("arguments") or "{}"
            rest = [c for c in calls if c not in ours]
            message["tool_calls"] = rest or None
            if not rest:
                choice["finish_reason"] = "stop"
    return body


def prompted_messages(messages: list[Any], request: SchemaRequest) -> list[Any]:
    """The conversation with the schema instructions in the leading system message."""
    text = schema_instructions(request.schema)
    if messages and isinstance(messages[0], Mapping) and messages[0].get("role") == "system":
        first = dict(messages[0])
        first["content"] = f"{first.get('content') or ''}\n\n{text}"
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


class PromptedRun:
    """Prompted JSON with bounded retries: `next_kwargs()`, then `receive(body)` until `done`."""

    def __init__(self, kwargs: dict[str, Any], request: SchemaRequest, retries: int = DEFAULT_MAX_RETRIES) -> None:
        self.kwargs = {**kwargs, "messages": prompted_messages(list(kwargs["messages"]), request)}
        self.request = request
        self.attempts_left = retries + 1
        self.body: dict[str, Any] | None = None
        self.error: KlusterStructuredOutputError | None = None
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

    @property
    def done(self) -> bool:
        return self.attempts_left == 0 or (self.body is not None and self.error is None)

    def receive(self, body: dict[str, Any]) -> None:
        self.attempts_left -= 1
        self.body = body
        for key in self.usage:
            self.usage[key] += int((body.get("usage") or {}).get(key) or 0)
        message = body["choices"][0]["message"]
        text = split_reasoning(message.get("content") or "").content
        try:
            parsed = parse_structured(text, self.request.schema)
        except KlusterStructuredOutputError as exc:
            self.error = exc
            feedback = retry_feedback(exc, self.request.schema)
            self.kwargs["messages"] = [
                *self.kwargs["messages"],
                {"role": "assistant", "content": text},
                {"role": "user", "content": feedback},
            ]
            return
        self.error = None
        message["content"] = json.dumps(parsed, ensure_ascii=False)

    def result(self) -> dict[str, Any]:
        if self.error is not None or self.body is None:
            raise self.error or KlusterStructuredOutputError("no reply", raw="")
        self.body["usage"] = self.usage
        return self.body


__all__ = ["PromptedRun", "SchemaRequest", "schema_request", "tool_call_to_content", "tool_kwargs"]
