"""Streams of reasoning models without `<think>` in their content.

kluster's reasoning models stream their thinking inline (`<think>…</think>` before the answer).
CrewAI's OpenAI streaming loop turns every content delta into an `LLMStreamChunkEvent` and into
the answer, so the thinking would reach both. `KlusterCompletion` runs that loop on a stream
whose chunks have been split first (`ThinkSplitter`, as the other adapters do): the thinking goes
out as CrewAI's `LLMThinkingChunkEvent`s and into `last_reasoning`, the content deltas carry only
the answer. The split stream is handed to the loop through the LLM's client getter while a
`StreamSplit` is active in the current context (a context variable: concurrent calls of one LLM
in threads or tasks each see their own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import Choice, ChoiceDelta

from kluster_agents.integrations._api.reasoning import ThinkSplitter

active_split: ContextVar[StreamSplit | None] = ContextVar("kluster_crewai_stream_split", default=None)


class StreamSplit:
    """One streamed call: splits each chunk's content and reports the thinking as it arrives."""

    def __init__(self, owner: object, on_thinking: Callable[[str, str | None], None]) -> None:
        self.owner = owner  # the LLM whose streamed call this is (a tool it runs may call another LLM)
        self._splitter = ThinkSplitter()
        self._on_thinking = on_thinking
        self._reasoning: list[str] = []
        self._last: ChatCompletionChunk | None = None

    @property
    def reasoning(self) -> str | None:
        return "".join(self._reasoning).strip() or None

    def _think(self, text: str, response_id: str | None) -> None:
        if text:
            self._reasoning.append(text)
            self._on_thinking(text, response_id)

    def split(self, chunk: ChatCompletionChunk) -> ChatCompletionChunk:
        self._last = chunk
        if chunk.choices and chunk.choices[0].delta.content:
            delta = chunk.choices[0].delta
            reasoning, content = self._splitter.feed(delta.content)
            self._think(reasoning, chunk.id)
            delta.content = content or None
        return chunk

    def tail(self) -> ChatCompletionChunk | None:
        """What the splitter held back at the end, as one more content chunk (None if nothing)."""
        reasoning, content = self._splitter.flush()
        last_id = self._last.id if self._last is not None else None
        self._think(reasoning, last_id)
        if not content or self._last is None:
            return None
        return ChatCompletionChunk.model_construct(
            id=self._last.id,
            object="chat.completion.chunk",
            created=self._last.created,
            model=self._last.model,
            choices=[Choice(index=0, delta=ChoiceDelta(content=content), finish_reason=None)],
            usage=None,
        )

    def wrap(self, stream: Any) -> Iterator[ChatCompletionChunk]:
        for chunk in stream:
            yield self.split(chunk)
        if (tail := self.tail()) is not None:
            yield tail

    async def awrap(self, stream: Any) -> AsyncIterator[ChatCompletionChunk]:
        async for chunk in stream:
            yield self.split(chunk)
        if (tail := self.tail()) is not None:
            yield tail


class _Completions:
    def __init__(self, completions: Any, split: StreamSplit, is_async: bool) -> None:
        self._completions = completions
        self._split = split
        self._async = is_async

    def create(self, **params: Any) -> Any:
        if self._async:
            return self._acreate(**params)
        result = self._completions.create(**params)
        return self._split.wrap(result) if params.get("stream") else result

    async def _acreate(self, **params: Any) -> Any:
        result = await self._completions.create(**params)
        return self._split.awrap(result) if params.get("stream") else result


class _Chat:
    def __init__(self, completions: _Completions) -> None:
        self.completions = completions


class SplittingClient:
    """The LLM's openai client, whose streamed chat completions come split (anything else: the client's)."""

    def __init__(self, client: Any, split: StreamSplit, *, is_async: bool) -> None:
        self._client = client
        self.chat = _Chat(_Completions(client.chat.completions, split, is_async))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
