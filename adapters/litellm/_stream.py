"""kluster's chat stream shaped into the `ModelResponseStream` chunks LiteLLM's stream wrapper keeps:
reasoning split out of `<think>`, usage carried on the last content chunk, a broken stream raised as
LiteLLM's error, and a whole structured answer as one chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices, Usage

from kluster_agents.adapters.litellm._errors import as_litellm_error
from kluster_agents.integrations._api.errors import KlusterStreamError
from kluster_agents.integrations._api.reasoning import ThinkSplitter


def _chunk(chunk: openai.types.chat.ChatCompletionChunk) -> ModelResponseStream:
    return ModelResponseStream(**chunk.model_dump(exclude_none=True))


def body_chunk(body: dict[str, Any]) -> ModelResponseStream:
    """A whole (structured) reply as one stream chunk carrying content, finish reason and usage."""
    choice = body["choices"][0]
    message = choice.get("message") or {}
    delta: dict[str, Any] = {
        "role": "assistant",
        "content": message.get("content"),
        "tool_calls": message.get("tool_calls"),
    }
    return ModelResponseStream(
        id=body.get("id"),
        created=body.get("created"),
        model=body.get("model"),
        choices=[
            StreamingChoices(
                index=0,
                delta=Delta(**{k: v for k, v in delta.items() if v}),
                finish_reason=choice.get("finish_reason"),
            )
        ],
        usage=Usage(**body["usage"]) if body.get("usage") else None,
    )


class _StreamShaper:
    """Turns kluster chunks into what LiteLLM's stream wrapper keeps.

    - `<think>` of reasoning models goes to `delta.reasoning_content`, as LiteLLM's non-streamed
      path does it (`integrations._api.reasoning`, the one splitter).
    - Usage: LiteLLM stops reading a custom provider's stream at the first chunk without content
      after the finish reason, so a trailing usage-only chunk (the server's, or our estimate) would
      be lost. The last content chunk is held back until the stream ends and carries the usage.
    """

    def __init__(self, reasoning: bool) -> None:
        self.splitter = ThinkSplitter() if reasoning else None
        self.held: ModelResponseStream | None = None

    def feed(self, chunk: openai.types.chat.ChatCompletionChunk) -> Iterator[ModelResponseStream]:
        if not chunk.choices:
            if chunk.usage is not None and self.held is not None:
                self.held.usage = Usage(**chunk.usage.model_dump(exclude_none=True))
            return
        out = _chunk(chunk)
        delta = out.choices[0].delta
        if self.splitter is not None and delta.content:
            reasoning, content = self.splitter.feed(delta.content)
            delta.content = content or None
            if reasoning:
                delta.reasoning_content = reasoning
        if delta.content or delta.tool_calls or getattr(delta, "reasoning_content", None):
            if self.held is not None:
                yield self.held
            self.held = out
        else:
            if self.held is not None and out.choices[0].finish_reason:
                self.held.choices[0].finish_reason = out.choices[0].finish_reason
                return
            yield out

    def end(self) -> Iterator[ModelResponseStream]:
        if self.splitter is not None and self.held is not None:
            reasoning, content = self.splitter.flush()
            delta = self.held.choices[0].delta
            if content:
                delta.content = (delta.content or "") + content
            if reasoning:
                delta.reasoning_content = (getattr(delta, "reasoning_content", None) or "") + reasoning
        if self.held is not None:
            yield self.held
            self.held = None


def chunks(
    stream: openai.Stream[openai.types.chat.ChatCompletionChunk], reasoning: bool, model: str | None = None
) -> Iterator[ModelResponseStream]:
    """The stream's chunks shaped for LiteLLM; a truncated or broken stream raises `LiteLLMKlusterStreamError`."""
    shaper = _StreamShaper(reasoning)
    try:
        with stream:
            for chunk in stream:
                yield from shaper.feed(chunk)
    except KlusterStreamError as exc:
        raise as_litellm_error(exc, model) from exc
    yield from shaper.end()


async def achunks(
    stream: openai.AsyncStream[openai.types.chat.ChatCompletionChunk], reasoning: bool, model: str | None = None
) -> AsyncIterator[ModelResponseStream]:
    """`chunks` for an async stream."""
    shaper = _StreamShaper(reasoning)
    try:
        async with stream:
            async for chunk in stream:
                for out in shaper.feed(chunk):
                    yield out
    except KlusterStreamError as exc:
        raise as_litellm_error(exc, model) from exc
    for out in shaper.end():
        yield out
