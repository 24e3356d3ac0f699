"""Streamed token usage through the kluster client: ask, remember a refusal per base URL, estimate."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.stream_usage import UsageCounter, is_estimated, refuses_stream_options

MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
ASK = [{"role": "user", "content": "Tell me about the sea"}]


def _bodies(emulator: Any) -> list[dict[str, Any]]:
    return [r.body for r in emulator.controls.requests if r.path == "/v1/chat/completions"]


def test_refused_stream_options_is_probed_once_then_usage_is_estimated(kluster_emulator: Any) -> None:
    client = make_client(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url)
    first = list(client.chat.completions.create(model=MODEL, messages=ASK, stream=True))
    second = list(client.chat.completions.create(model=MODEL, messages=ASK, stream=True))
    bodies = _bodies(kluster_emulator)
    # the docs' refusal (default emulator): one probe with stream_options, then never again
    assert ["stream_options" in b for b in bodies] == [True, False, False]
    assert refuses_stream_options(kluster_emulator.base_url)
    for chunks in (first, second):
        usage = chunks[-1].usage
        assert chunks[-1].choices == [] and usage is not None
        assert usage.prompt_tokens > 0 and usage.completion_tokens > 0 and is_estimated(usage)


def test_accepted_stream_options_gives_the_servers_usage(kluster_emulator: Any) -> None:
    kluster_emulator.controls.accept_stream_options = True
    client = make_client(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url)
    chunks = list(client.chat.completions.create(model=MODEL, messages=ASK, stream=True))
    [body] = _bodies(kluster_emulator)
    assert body["stream_options"] == {"include_usage": True}
    usage = chunks[-1].usage
    assert usage is not None and usage.total_tokens > 0 and not is_estimated(usage)
    assert sum(c.usage is not None for c in chunks) == 1  # the server's, no estimate added


def test_estimate_mode_never_asks(kluster_emulator: Any) -> None:
    kluster_emulator.controls.accept_stream_options = True
    client = make_client(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url, stream_usage="estimate")
    chunks = list(client.chat.completions.create(model=MODEL, messages=ASK, stream=True))
    assert "stream_options" not in _bodies(kluster_emulator)[0]
    assert is_estimated(chunks[-1].usage)


def test_ask_mode_surfaces_the_refusal(kluster_emulator: Any) -> None:
    client = make_client(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url, stream_usage="ask")
    with pytest.raises(openai.BadRequestError, match="stream_options"):
        client.chat.completions.create(model=MODEL, messages=ASK, stream=True)


async def test_async_stream_falls_back_and_estimates(kluster_emulator: Any) -> None:
    client = make_async_client(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url)
    stream = await client.chat.completions.create(model=MODEL, messages=ASK, stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert is_estimated(chunks[-1].usage)


KINDS = ["model", "json"]  # chunks as openai models (most clients) or the JSON sent (ChatKluster's)


def _chunk(
    delta: dict[str, Any], usage: dict[str, int] | None = None, finish: str | None = None, *, kind: str = "model"
) -> Any:
    chunk: dict[str, Any] = {
        "id": "chat-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk if kind == "json" else ChatCompletionChunk.model_validate(chunk)


@pytest.mark.parametrize("kind", KINDS)
def test_the_estimate_counts_every_chunk_once_the_stream_has_ended(kind: str) -> None:
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "get", "arguments": '{"a": 1}'}}
    chunks = [
        _chunk({"role": "assistant", "content": "12345678"}, kind=kind),
        _chunk({"reasoning_content": "abcd"}, kind=kind),
        _chunk({"tool_calls": [call]}, kind=kind),
        _chunk({}, finish="stop", kind=kind),
    ]
    counter = UsageCounter([{"role": "user", "content": "hi"}])
    counter.read(chunks[:2])  # the stream checker hands them over in runs
    counter.read(chunks[2:])
    tail = counter.tail()
    assert tail is not None and type(tail) is type(chunks[0])  # the tail is of the stream's kind
    tail = tail if kind == "model" else ChatCompletionChunk.model_validate(tail)
    assert tail.usage is not None and tail.id == "chat-1"
    assert tail.usage.completion_tokens == (8 + 4 + len("get") + len('{"a": 1}') + 3) // 4
    assert is_estimated(tail.usage) and tail.choices == []


@pytest.mark.parametrize("kind", KINDS)
def test_usage_from_the_server_anywhere_in_the_stream_means_no_estimate(kind: str) -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    for runs in (
        [[_chunk({"content": "a"}, kind=kind), _chunk({}, finish="stop", usage=usage, kind=kind)]],
        [[_chunk({"content": "a"}, usage=usage, kind=kind)], [_chunk({}, finish="stop", kind=kind)]],
        [],
    ):
        counter = UsageCounter([])
        for run in runs:
            counter.read(run)
        assert counter.tail() is None


def test_a_long_stream_is_checked_in_runs_and_not_held(kluster_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """More chunks than one run: the estimate still counts them all, and the checker lets them go."""
    from kluster_agents.integrations._api import openai_errors

    monkeypatch.setattr(openai_errors, "_RUN", 4)
    kluster_emulator.controls.script("word " * 700)
    client = make_client(settings=kluster_emulator.settings.model_copy(update={"stream_usage": "estimate"}))
    stream = client.chat.completions.create(model=MODEL, messages=ASK, stream=True)
    pieces, most_noted = [], 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        frame = stream._iterator.gi_frame
        if frame is not None and "noted" in frame.f_locals:
            most_noted = max(most_noted, len(frame.f_locals["noted"].chunks))
    assert len(pieces) > openai_errors._RUN
    assert 0 < most_noted <= openai_errors._RUN
    assert chunk.usage is not None and is_estimated(chunk.usage)
    assert chunk.usage.completion_tokens == (len("".join(pieces)) + 3) // 4


def test_a_raw_responses_stream_is_checked_and_counted(kluster_emulator: Any) -> None:
    """`with_raw_response.create(stream=True)` (LangChain with `include_response_headers`): its parsed
    stream ends with the estimated usage like any other."""
    client = make_client(settings=kluster_emulator.settings.model_copy(update={"stream_usage": "estimate"}))
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=ASK, stream=True)
    chunks = list(raw.parse())
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert chunks[-1].choices == [] and is_estimated(chunks[-1].usage)
