"""The JSON shapes kluster returns for chat completions, built from a `Reply`: docs-style ids,
no `system_fingerprint`, usage without `*_details`, an extra `stop_reason` on each choice and
`prompt_logprobs` — plus `kluster_emulated: true`, so nothing can pass for the real service."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kluster_agents.integrations.emulator._model.replies import Reply
from kluster_agents.integrations.emulator._model.text import estimate_tokens, prompt_tokens

EMULATED_FIELD = "kluster_emulated"
_STREAM_PIECES = 16  # a streamed reply is cut into at most this many content chunks


def object_id() -> str:
    """A 24-hex id like the service's files, batches and jobs (a timestamp, then random bytes)."""
    return f"{int(time.time()):08x}{os.urandom(8).hex()}"


def completion_id() -> str:
    return f"chat-{uuid.uuid4().hex}"


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "total_tokens": prompt + completion, "completion_tokens": completion}


def _reply_usage(messages: Sequence[Any], reply: Reply, tool_calls: list[dict[str, Any]]) -> dict[str, int]:
    completion = estimate_tokens(reply.content or "") + sum(estimate_tokens(str(c["function"])) for c in tool_calls)
    return usage(prompt_tokens(messages), completion)


def chat_completion(model: str, messages: Sequence[Any], reply: Reply, created: int) -> dict[str, Any]:
    tool_calls = [call.to_openai() for call in reply.tool_calls]
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content, "tool_calls": tool_calls},
                "logprobs": None,
                "finish_reason": reply.finish_reason,
                "stop_reason": None,
            }
        ],
        "usage": _reply_usage(messages, reply, tool_calls),
        "prompt_logprobs": None,
        EMULATED_FIELD: True,
    }


def _chunk(ident: str, model: str, created: int, delta: Mapping[str, Any], finish: str | None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    if finish is not None:
        choice["stop_reason"] = None
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [choice],
        EMULATED_FIELD: True,
    }


def stream_chunks(
    model: str, reply: Reply, created: int, *, usage_of: Sequence[Any] | None = None
) -> Iterator[dict[str, Any]]:
    """The SSE chunks of a streamed reply (vLLM style: role first, content pieces, then finish).

    With `usage_of` (the request's messages, when it asked `stream_options.include_usage`), a last
    chunk with empty `choices` carries the usage, as OpenAI and vLLM send it."""
    ident = completion_id()
    yield _chunk(ident, model, created, {"role": "assistant", "content": ""}, None)
    for piece in _pieces(reply.content or ""):
        yield _chunk(ident, model, created, {"content": piece}, None)
    for index, call in enumerate(reply.tool_calls):
        yield _chunk(ident, model, created, {"tool_calls": [{"index": index, **call.to_openai()}]}, None)
    yield _chunk(ident, model, created, {}, reply.finish_reason)
    if usage_of is not None:
        calls = [call.to_openai() for call in reply.tool_calls]
        yield {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": _reply_usage(usage_of, reply, calls),
            EMULATED_FIELD: True,
        }


_THINK_TAGS = re.compile(r"(</?think>)")


def _pieces(text: str) -> list[str]:
    """Content pieces of a streamed reply; `<think>`/`</think>` are one token each in R1-style models'
    vocabularies, so they stream as pieces of their own (as vLLM and Ollama send them)."""
    if not text:
        return []
    if "think>" in text:
        return [
            p
            for part in _THINK_TAGS.split(text)
            if part
            for p in ([part] if _THINK_TAGS.fullmatch(part) else _word_pieces(part))
        ]
    return _word_pieces(text)


def _word_pieces(text: str) -> list[str]:
    words = text.split(" ")
    per_piece = max(1, -(-len(words) // _STREAM_PIECES))
    groups = [" ".join(words[i : i + per_piece]) for i in range(0, len(words), per_piece)]
    return [g if i == len(groups) - 1 else g + " " for i, g in enumerate(groups)]


def async_placeholder(model: str, request_id: str, created: int) -> dict[str, Any]:
    """The documented answer to an adaptive (`@kluster.ai` async) request."""
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Your request has been queued for adaptive inference. "
                    "Check your batch jobs for results.",
                },
                "finish_reason": "stop",
            }
        ],
        EMULATED_FIELD: True,
    }
