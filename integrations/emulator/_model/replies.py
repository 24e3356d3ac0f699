"""What the emulated model answers: scripted replies first (FIFO, optionally per model), then
a recorded exchange for the same request, then a deterministic reply derived from the request.

The same function serves real-time requests and batch lines, so a batch result equals the
real-time answer to the same request. Tool calls and prompted JSON are generated from their
schemas so that agent loops and structured-output parsers terminate.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kluster_agents.integrations._api.catalog import ModelInfo
from kluster_agents.integrations._api.compat import content_text
from kluster_agents.integrations.emulator._json import canonical
from kluster_agents.integrations.emulator._model.agent import (
    agent_turn,
    conversation_values,
    tool_result_answer,
    tool_results,
)
from kluster_agents.integrations.emulator._model.schema_instance import instance_for_schema
from kluster_agents.integrations.emulator._model.text import estimate_tokens, last_text
from kluster_agents.integrations.emulator._model.verify_heuristic import Verifier


@dataclass(frozen=True)
class ToolCall:
    """A tool call the emulated model makes; `arguments` is a dict or an already-encoded JSON string."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)

    def to_openai(self) -> dict[str, Any]:
        args = self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)
        return {
            "id": f"chatcmpl-tool-{uuid.uuid4().hex}",
            "type": "function",
            "function": {"name": self.name, "arguments": args},
        }


@dataclass(frozen=True)
class Reply:
    """One assistant turn: text, or tool calls."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"

    @classmethod
    def of(cls, value: str | ToolCall | Sequence[ToolCall] | Reply) -> Reply:
        """Accept what tests script: a string, a ToolCall, a list of ToolCalls or a Reply."""
        if isinstance(value, Reply):
            return value
        if isinstance(value, str):
            return cls(content=value)
        calls = (value,) if isinstance(value, ToolCall) else tuple(value)
        return cls(content=None, tool_calls=calls, finish_reason="tool_calls")


class ScriptedReplies:
    """FIFO queues of scripted replies: one per model, plus one for any model."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str | None, deque[Reply]] = {}

    def push(self, replies: Iterable[Reply], model: str | None = None) -> None:
        with self._lock:
            self._queues.setdefault(model, deque()).extend(replies)

    def pop(self, model: str) -> Reply | None:
        if not self._queues:
            return None
        with self._lock:
            for key in (model, None):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
        return None

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()


def request_key(
    model: str, messages: Any, tools: Any = None, tool_choice: Any = None, parallel_tool_calls: Any = None
) -> str:
    """The identity of a chat request for replaying recorded exchanges: model, messages and the
    tool declarations (a recorded tool call is only a valid answer to a request with the same tools)."""
    identity = {"model": model, "messages": messages, "tools": tools or None, "tool_choice": tool_choice}
    if parallel_tool_calls is not None:
        identity["parallel_tool_calls"] = parallel_tool_calls
    return canonical(identity)


DERIVED_CACHE_SIZE = 4096  # request shapes whose derived reply is kept (a benchmark or an agent loop repeats them)


class ReplyEngine:
    """Decides the reply to a chat request (see module docstring for the order).

    A derived reply depends on the request alone, so it is kept per request shape (model, messages, tools,
    response format): a repeated request costs a lookup instead of a walk over the conversation."""

    def __init__(self, scripts: ScriptedReplies, recorded: Mapping[str, Reply], verifier: Verifier) -> None:
        self.scripts = scripts
        self.recorded = recorded
        self.verifier = verifier
        self._derived: dict[tuple[str, str], Reply] = {}

    def reply(self, request: Mapping[str, Any], info: ModelInfo) -> Reply:
        return _apply_max_tokens(self._reply(request, info), request)

    def _reply(self, request: Mapping[str, Any], info: ModelInfo) -> Reply:
        scripted = self.scripts.pop(info.id)
        if scripted is not None:
            return scripted
        key = _key_of(info.id, request)
        if self.recorded and (recorded := self.recorded.get(key)) is not None:
            return recorded
        if info.verify:
            return Reply(content=json.dumps(self.verifier.check_conversation(request.get("messages") or [])))
        shape = (key, canonical(request.get("response_format")))
        reply = self._derived.get(shape)
        if reply is None:
            if len(self._derived) >= DERIVED_CACHE_SIZE:
                self._derived.clear()
            reply = self._derived[shape] = derived_reply(request, info)
        return reply


def _key_of(model: str, request: Mapping[str, Any]) -> str:
    return request_key(
        model,
        request.get("messages") or [],
        request.get("tools"),
        request.get("tool_choice"),
        request.get("parallel_tool_calls"),
    )


def derived_reply(request: Mapping[str, Any], info: ModelInfo) -> Reply:
    """The emulated model's own answer: deterministic, derived from the conversation and the tools.

    Reasoning models (catalog `reasoning`: DeepSeek-R1, Qwen3, Magistral) write their thinking inline
    as `<think>…</think>` before a text answer, as their chat templates make them do when served
    through an OpenAI-compatible API without a reasoning parser (kluster's docs document no
    `reasoning_content` field, so every adapter is checked against exactly this shape)."""
    reply = _derived_reply(request, info)
    if info.reasoning and reply.content is not None:
        return Reply(content=think_block(request) + reply.content, finish_reason=reply.finish_reason)
    return reply


def think_block(request: Mapping[str, Any]) -> str:
    """The deterministic inline reasoning of an emulated reasoning model (no braces: it never looks like JSON)."""
    messages = [m for m in request.get("messages") or [] if isinstance(m, Mapping)]
    asked = " ".join(last_text(messages, "user").split())[:120].replace("{", "(").replace("}", ")")
    return f"<think>\nThe user asks: {asked or 'nothing in particular'}. I will answer directly.\n</think>\n\n"


def _derived_reply(request: Mapping[str, Any], info: ModelInfo) -> Reply:
    messages: list[Mapping[str, Any]] = [m for m in request.get("messages") or [] if isinstance(m, Mapping)]
    user_text = last_text(messages, "user")
    turn = agent_turn(request) if info.tools else None
    if turn is not None and turn.calls:
        return Reply.of([ToolCall(name, args) for name, args in turn.calls])
    if tool_results(messages):
        return Reply(content=tool_result_answer(messages))
    schema = find_json_schema(messages)
    if schema is None and _json_mode(request):
        schema = _requested_object(user_text)
    if schema is not None:
        values = conversation_values(messages)
        return Reply(content=json.dumps(instance_for_schema(schema, values=values)))
    return Reply(content=f"[emulated] reply to: {user_text}" if user_text else "[emulated] reply")


def _json_mode(request: Mapping[str, Any]) -> bool:
    """JSON mode (`response_format={"type": "json_object"}`, observed accepted): the answer is one JSON object."""
    fmt = request.get("response_format")
    return isinstance(fmt, Mapping) and fmt.get("type") == "json_object"


_NAMED_KEYS = re.compile(r"\bkeys?\s+((?:[`'\"]?[A-Za-z_]\w*[`'\"]?(?:\s*,\s*|\s+and\s+|,\s*and\s+)?)+)", re.I)


def _requested_object(user_text: str) -> dict[str, Any]:
    """The object a JSON-mode prompt asks for: the keys it names ("with the keys name and age"), else an
    `answer` field, as a capable model would shape it."""
    found = _NAMED_KEYS.search(user_text)
    names = re.findall(r"[A-Za-z_]\w*", found.group(1)) if found else []
    keys = [n for n in names if n.lower() != "and"] or ["answer"]
    number = re.compile(r"^(age|count|number|year|total|amount)s?$", re.I)
    properties = {k: {"type": "integer" if number.match(k) else "string"} for k in keys}
    return {"type": "object", "properties": properties, "required": keys}


_DECODER = json.JSONDecoder()


def find_json_schema(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The last JSON Schema object (a JSON object with "properties") written in the messages."""
    for message in reversed(messages):
        text = content_text(message.get("content"))
        if '"properties"' not in text:
            continue
        start = text.find("{")
        while start != -1:
            try:
                value, _ = _DECODER.raw_decode(text, start)
            except ValueError:
                value = None
            if isinstance(value, dict) and isinstance(value.get("properties"), dict):
                return value
            start = text.find("{", start + 1)
    return None


def _apply_max_tokens(reply: Reply, request: Mapping[str, Any]) -> Reply:
    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    if not isinstance(limit, int) or reply.content is None or estimate_tokens(reply.content) <= limit:
        return reply
    return Reply(content=reply.content[: max(1, limit * 4)], finish_reason="length")
