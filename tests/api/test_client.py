"""Clients: configuration, shared pools, and compat applied on every chat completion."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kluster_agents.integrations import (
    KlusterConfigError,
    KlusterSettings,
    KlusterUnsupportedError,
    __version__,
    make_async_client,
    make_client,
)
from kluster_agents.integrations._api.client import shared_async_http_client, shared_http_client

from ._recording import Recorder

KEY = "kl-key-0123456789abcdef"
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop", "stop_reason": None}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    "prompt_logprobs": None,
}


def test_client_configuration() -> None:
    settings = KlusterSettings(api_key=KEY, base_url="http://127.0.0.1:1/v1", max_retries=5, timeout=12)
    client = make_client(settings)
    assert str(client.base_url) == "http://127.0.0.1:1/v1/"
    assert client.max_retries == 5 and client.timeout.read == 12
    assert client.api_key == KEY
    assert KEY not in repr(client.kluster_settings)


def test_no_key_raises_how_to_get_one() -> None:
    with pytest.raises(KlusterConfigError, match="KLUSTER_API_KEY"):
        make_client(KlusterSettings())


def test_user_agent_and_bearer_sent() -> None:
    rec = Recorder(COMPLETION)
    client = make_client(KlusterSettings(api_key=KEY), http_client=httpx.Client(transport=httpx.MockTransport(rec)))
    reply = client.chat.completions.create(model="llama-3.3-70b", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "hello"  # kluster shape (no system_fingerprint, stop_reason) parses
    request = rec.requests[0]
    assert request.headers["user-agent"] == f"kluster-agents/{__version__}"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert str(request.url) == "https://api.kluster.ai/v1/chat/completions"


def test_compat_applied_on_the_wire_sync_and_raw() -> None:
    rec = Recorder(COMPLETION)
    client = make_client(
        KlusterSettings(api_key=KEY, warn_on_drop=False), http_client=httpx.Client(transport=httpx.MockTransport(rec))
    )
    messages = [{"role": "user", "content": "hi", "name": "bob"}]
    client.chat.completions.create(model="llama-3.3-70b", messages=messages, max_tokens=5, store=True, n=1)
    client.chat.completions.with_raw_response.create(model="llama-3.3-70b", messages=messages, stream_options={"a": 1})
    for body in rec.bodies:
        assert body["model"] == "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
        assert body["messages"] == [{"role": "user", "content": "hi"}]
        assert not {"store", "n", "max_tokens", "stream_options"} & set(body)
    assert rec.bodies[0]["max_completion_tokens"] == 5


def test_refusal_happens_before_the_network() -> None:
    rec = Recorder(COMPLETION)
    client = make_client(KlusterSettings(api_key=KEY), http_client=httpx.Client(transport=httpx.MockTransport(rec)))
    with pytest.raises(KlusterUnsupportedError):
        client.chat.completions.create(model="deepseek-r1", messages=[{"role": "user", "content": "x"}], n=2)
    assert rec.requests == []


def test_async_client_applies_compat() -> None:
    rec = Recorder(COMPLETION)

    async def run() -> None:
        client = make_async_client(
            KlusterSettings(api_key=KEY, warn_on_drop=False),
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(rec)),
        )
        await client.chat.completions.create(
            model="llama-3.1-8b", messages=[{"role": "user", "content": "x"}], max_tokens=3
        )
        with pytest.raises(KlusterUnsupportedError):
            await client.chat.completions.create(
                model="llama-3.1-8b",
                messages=[{"role": "user", "content": "x"}],
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
            )

    asyncio.run(run())
    assert rec.bodies == [
        {
            "model": "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo",
            "messages": [{"role": "user", "content": "x"}],
            "max_completion_tokens": 3,
        }
    ]


def test_pools_are_shared() -> None:
    s = KlusterSettings(api_key=KEY)
    assert make_client(s)._client is make_client(s)._client is shared_http_client()

    async def pools():
        return shared_async_http_client(), shared_async_http_client(), make_async_client(s)._client

    a, b, c = asyncio.run(pools())
    assert a is b is c


def test_framework_user_agent_is_kept_after_ours() -> None:
    rec = Recorder(COMPLETION)
    client = make_client(KlusterSettings(api_key=KEY), http_client=httpx.Client(transport=httpx.MockTransport(rec)))
    client.chat.completions.create(
        model="llama-3.3-70b",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"User-Agent": "pydantic-ai/2"},
    )
    assert rec.requests[0].headers["user-agent"] == f"kluster-agents/{__version__} pydantic-ai/2"
