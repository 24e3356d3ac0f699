"""ChatKluster options that must reach kluster.ai: the user's default headers and query, request
`metadata` (LangChain keeps a field of that name for tracing), and adaptive inference."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations._api.errors import KlusterStreamError, KlusterUnsupportedError

REPLY = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
PLACEHOLDER = "queued for adaptive inference"


def mocked(seen: list[httpx.Request], **kwargs: Any) -> ChatKluster:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=REPLY)

    return ChatKluster(
        api_key="k",
        base_url="https://kluster.example/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        **kwargs,
    )


def chat(emulator: Any, **kwargs: Any) -> ChatKluster:
    return ChatKluster(api_key=emulator.api_key, base_url=emulator.base_url, **kwargs)


def chat_bodies(emulator: Any) -> list[dict[str, Any]]:
    return [r.body for r in emulator.controls.requests if r.path.endswith("/chat/completions")]


def test_default_headers_and_query_reach_the_wire() -> None:
    seen: list[httpx.Request] = []
    llm = mocked(seen, default_headers={"X-Team": "search"}, default_query={"trace": "1"})
    llm.invoke("hi")
    [request] = seen
    assert request.headers["x-team"] == "search"
    assert request.url.params["trace"] == "1"
    assert request.headers["user-agent"].startswith("kluster-agents/")  # ours is still sent


def test_model_kwargs_metadata_is_request_metadata_not_tracing_metadata() -> None:
    seen: list[httpx.Request] = []
    llm = mocked(seen, model_kwargs={"metadata": {"team": "search"}}, extra_body={"metadata": {"run": "7"}})
    llm.invoke("hi")
    assert json.loads(seen[0].content)["metadata"] == {"team": "search", "run": "7"}
    assert "team" not in (llm.metadata or {})


def test_adaptive_invoke_returns_the_real_answer(kluster_emulator: Any) -> None:
    reply = chat(kluster_emulator, adaptive=True).invoke("Summarise the plot of Hamlet")
    assert reply.text.startswith("[emulated]") and PLACEHOLDER not in reply.text
    [body] = chat_bodies(kluster_emulator)
    assert body["metadata"]["@kluster.ai"]["async"] is True


async def test_adaptive_per_call_keeps_user_metadata_and_options(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator, model_kwargs={"metadata": {"team": "search"}})
    reply = await llm.bind(adaptive={"completion_window": "1h"}).ainvoke("hi")
    assert reply.text.startswith("[emulated]") and PLACEHOLDER not in reply.text
    [body] = chat_bodies(kluster_emulator)
    assert body["metadata"]["team"] == "search"
    assert body["metadata"]["@kluster.ai"] == {"async": True, "completion_window": "1h"}


def test_model_kwargs_adaptive_metadata_returns_the_real_answer(kluster_emulator: Any) -> None:
    llm = chat(
        kluster_emulator, model_kwargs={"metadata": {"@kluster.ai": {"async": True, "completion_window": "24h"}}}
    )
    reply = llm.invoke("hi")
    assert reply.text.startswith("[emulated]") and PLACEHOLDER not in reply.text
    assert chat_bodies(kluster_emulator)[0]["metadata"]["@kluster.ai"]["async"] is True


def test_adaptive_stream_is_refused_before_the_network(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator, adaptive=True)
    with pytest.raises(KlusterUnsupportedError) as caught:
        list(llm.stream("hi"))
    assert caught.value.model == llm.model_name
    assert chat_bodies(kluster_emulator) == []


def test_batch_mode_batch_stays_one_batch_api_job_with_adaptive_set(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator, batch=True, adaptive=True)
    replies = llm.batch(["one", "two"])
    assert [r.text for r in replies] == ["[emulated] reply to: one", "[emulated] reply to: two"]
    paths = [r.path for r in kluster_emulator.controls.requests]
    assert "/v1/batches" in paths and chat_bodies(kluster_emulator) == []


def test_adaptive_json_mode_returns_the_real_answer(kluster_emulator: Any) -> None:
    """LangChain reads a `response_format` request through the client's `parse()`, not `create()`."""
    llm = chat(kluster_emulator, adaptive=True).bind(response_format={"type": "json_object"})
    reply = llm.invoke("Return a JSON object with the keys name and age for Ada Lovelace, who is 36.")
    assert json.loads(reply.text) == {"name": "Ada Lovelace", "age": 36}


async def test_adaptive_json_mode_returns_the_real_answer_async(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator, adaptive=True).bind(response_format={"type": "json_object"})
    reply = await llm.ainvoke("Return a JSON object with the keys name and age for Ada Lovelace, who is 36.")
    assert json.loads(reply.text) == {"name": "Ada Lovelace", "age": 36}


def _streamed(llm: ChatKluster) -> Any:
    final = None
    for chunk in llm.stream("Tell me about the sea"):
        final = chunk if final is None else final + chunk
    return final


def test_include_response_headers_streams_are_checked_and_counted(kluster_emulator: Any) -> None:
    """LangChain streams through a raw response with `include_response_headers`: that stream gets the
    usage and the truncation check every other stream gets."""
    llm = ChatKluster(
        api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url, include_response_headers=True
    )
    final = _streamed(llm)
    assert final.response_metadata["headers"]["content-type"].startswith("text/event-stream")
    assert final.usage_metadata and final.usage_metadata["output_tokens"] > 0
    assert final.response_metadata["usage_estimated"] is True  # the emulator refuses stream_options, as documented
    kluster_emulator.controls.truncate_streams(after_chunks=2)
    with pytest.raises(KlusterStreamError, match="ended before its finish chunk"):
        _streamed(llm.model_copy(update={"max_retries": 0}))


async def test_include_response_headers_async_streams_are_checked_and_counted(kluster_emulator: Any) -> None:
    llm = ChatKluster(
        api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url, include_response_headers=True
    )
    chunks = [chunk async for chunk in llm.astream("Tell me about the sea")]
    assert "headers" in chunks[0].response_metadata
    assert [c.usage_metadata for c in chunks if c.usage_metadata][-1]["output_tokens"] > 0
    kluster_emulator.controls.truncate_streams(after_chunks=2)
    with pytest.raises(KlusterStreamError, match="ended before its finish chunk"):
        async for _ in llm.astream("Tell me about the sea"):
            pass
