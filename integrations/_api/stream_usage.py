"""Token usage for streamed chat completions, on every adapter's stream.

OpenAI-compatible servers put usage into a stream only when asked with
`stream_options: {"include_usage": true}`. kluster's compatibility page lists `stream_options` as
unsupported and nobody has observed the live service either way, so the client asks, and the first
400 that names `stream_options` marks that base URL as refusing it for the rest of the process
(one failed probe, then never again). A stream that ends without usage gets a last chunk with
usage counted client-side (about four characters per token, the estimate CrewAI and the emulator
use), flagged `estimated` so nobody mistakes it for a bill.

`KLUSTER_STREAM_USAGE` (`KlusterSettings.stream_usage`) decides: `auto` (ask unless the URL refused),
`ask` (always ask; a refusal raises), `estimate` (never ask, always count client-side).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk

from kluster_agents.integrations._api.compat import content_text
from kluster_agents.integrations._api.settings import StreamUsageMode

INCLUDE_USAGE = {"include_usage": True}
ESTIMATED_FLAG = "kluster_usage_estimated"
"""Extra field on an estimated usage chunk (and on its `usage`): True when counted client-side."""

logger = logging.getLogger(__name__)
_refused: set[str] = set()
_accepted: set[str] = set()
_lock = threading.Lock()


def estimate_tokens(text: str) -> int:
    """About four characters per token (never 0 for non-empty text)."""
    return (len(text) + 3) // 4 if text else 0


def refuses_stream_options(base_url: str) -> bool:
    """True once this base URL has answered `stream_options` with a 400 in this process."""
    return str(base_url).rstrip("/") in _refused


def remember_refusal(base_url: str) -> None:
    with _lock:
        _refused.add(str(base_url).rstrip("/"))
    logger.info("kluster-agents: %s refuses stream_options; stream usage is counted client-side from now on", base_url)


def accepts_stream_options(base_url: str) -> bool:
    """True once this base URL has answered a stream that asked for usage in this process (its later
    requests are no probes: nobody expects it to refuse)."""
    return str(base_url).rstrip("/") in _accepted


def remember_acceptance(base_url: str) -> None:
    if not accepts_stream_options(base_url):
        with _lock:
            _accepted.add(str(base_url).rstrip("/"))


def forget_refusals() -> None:
    """Forget every remembered refusal and acceptance (tests; or after the service changed)."""
    with _lock:
        _refused.clear()
        _accepted.clear()


def should_ask(mode: StreamUsageMode, base_url: str) -> bool:
    return mode == "ask" or (mode == "auto" and not refuses_stream_options(base_url))


def is_stream_options_refusal(exc: BaseException) -> bool:
    """A 400 whose error names `stream_options` (the parameter or the message)."""
    if not isinstance(exc, openai.BadRequestError):
        return False
    body: Mapping[str, Any] = exc.body if isinstance(exc.body, Mapping) else {}
    nested = body.get("error")
    inner: Mapping[str, Any] = nested if isinstance(nested, Mapping) else body
    text = f"{exc.message} {inner.get('param', '')} {inner.get('message', '')}"
    return "stream_options" in text


def prompt_estimate(messages: Sequence[Any]) -> int:
    total = 0
    for message in messages:
        if isinstance(message, Mapping):
            total += 4 + estimate_tokens(content_text(message.get("content")))
            for call in message.get("tool_calls") or []:
                total += estimate_tokens(str(call.get("function") if isinstance(call, Mapping) else call))
    return total


def _text_length(chunk: ChatCompletionChunk) -> int:
    """Characters a chunk adds to the answer: content, inline reasoning and tool calls."""
    chars = 0
    for choice in chunk.choices:
        delta = choice.delta
        if delta.content:
            chars += len(delta.content)
        # `reasoning_content` is no openai field: read the extras (`model_extra`) as they are, no getattr miss
        extra = delta.__pydantic_extra__
        if extra and (reasoning := extra.get("reasoning_content")):
            chars += len(reasoning)
        for call in delta.tool_calls or ():
            if call.function is not None:
                chars += len(call.function.name or "") + len(call.function.arguments or "")
    return chars


def _json_text_length(chunk: dict[str, Any]) -> int:
    """`_text_length` of a chunk as the JSON the service sent."""
    chars = 0
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if type(choice) is dict else None
        if type(delta) is not dict:
            continue
        for key in ("content", "reasoning_content"):
            if type(text := delta.get(key)) is str:
                chars += len(text)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") if type(call) is dict else None
            if type(function) is dict:
                chars += len(function.get("name") or "") + len(function.get("arguments") or "")
    return chars


class UsageCounter:
    """The estimated usage chunk that ends a stream whose server sent no usage. The stream checker hands
    it the chunks in runs (`read`) and asks for that chunk at the end (`tail`: None when usage came).
    Chunks are openai models or, from a JSON resource, the JSON the service sent; the tail is the same."""

    def __init__(self, messages: Sequence[Any]) -> None:
        self.messages = messages
        self.seen_usage = False
        self.chars = 0
        self.last: ChatCompletionChunk | dict[str, Any] | None = None

    def read(self, chunks: Sequence[Any]) -> None:
        newest = None
        for chunk in reversed(chunks):  # usage comes last when it comes: then this is one step
            if type(chunk) is dict:
                usage = chunk.get("usage")
            elif isinstance(chunk, ChatCompletionChunk):
                usage = chunk.usage
            else:
                continue
            newest = newest or chunk
            if usage is not None:
                self.seen_usage = True
                break
        if newest is not None:
            self.last = newest
        if not self.seen_usage:
            for chunk in chunks:
                if type(chunk) is dict:
                    self.chars += _json_text_length(chunk)
                elif isinstance(chunk, ChatCompletionChunk):
                    self.chars += _text_length(chunk)

    def tail(self) -> ChatCompletionChunk | dict[str, Any] | None:
        """The estimated usage chunk for a stream that ended without usage, else None."""
        last = self.last
        if self.seen_usage or last is None:
            return None
        prompt = prompt_estimate(self.messages)
        completion = (self.chars + 3) // 4
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            ESTIMATED_FLAG: True,
        }
        fields = ("id", "created", "model")
        chunk: dict[str, Any] = {
            **{f: last.get(f) if type(last) is dict else getattr(last, f) for f in fields},
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": usage,
            ESTIMATED_FLAG: True,
        }
        return chunk if type(last) is dict else ChatCompletionChunk.model_validate(chunk)


def is_estimated(usage: Any) -> bool:
    """True for usage counted client-side (a dict or an openai/pydantic object)."""
    if isinstance(usage, Mapping):
        return bool(usage.get(ESTIMATED_FLAG))
    extra = getattr(usage, "model_extra", None) or {}
    return bool(extra.get(ESTIMATED_FLAG))


__all__ = [
    "ESTIMATED_FLAG",
    "StreamUsageMode",
    "estimate_tokens",
    "forget_refusals",
    "is_estimated",
    "refuses_stream_options",
]
