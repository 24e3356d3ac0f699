"""One process-wide httpx client per rate-limit scope (a pool per model made construction slow): models and SDK clients share it,
building one allocates no pool, each event loop gets its own pool on first use, closing one SDK
client leaves the others working, and the environment's proxies still apply.

Each test takes a rate-limit scope of its own (a distinct `client_rpm`), so it starts from a
shared client no other test has used."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations._api import client as client_module
from kluster_agents.integrations._api.client import (
    make_async_client,
    make_client,
    shared_async_http_client,
    shared_http_client,
)
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations.emulator._server.server import Emulator

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
_rpm = itertools.count(90_001)


def _fresh(emulator: Emulator | None = None, **extra: Any) -> dict[str, Any]:
    """ChatKluster/KlusterSettings arguments on a rate-limit scope no other test uses."""
    where = {"base_url": emulator.base_url, "api_key": emulator.api_key} if emulator else {"api_key": "sk-test-123456"}
    return {**where, "client_rpm": next(_rpm), "warn_on_drop": False, **extra}


def _model(emulator: Emulator | None = None) -> ChatKluster:
    options = _fresh(emulator)
    api_key, base_url = options.pop("api_key"), options.pop("base_url", None)
    extra = {"base_url": base_url} if base_url else {}
    return ChatKluster(model=MODEL, api_key=api_key, settings=KlusterSettings(**options), max_tokens=8, **extra)


def test_models_share_one_client_and_building_them_opens_no_pool() -> None:
    settings = KlusterSettings(**_fresh())
    models = [ChatKluster(model=MODEL, settings=settings, max_tokens=8, temperature=i / 100) for i in range(50)]
    sync = {id(m.root_client._client) for m in models}
    async_ = {id(m.root_async_client._client) for m in models}
    assert sync == {id(shared_http_client(settings))}
    assert async_ == {id(shared_async_http_client(settings))}
    shared = shared_async_http_client(settings)
    assert isinstance(shared, client_module._KeepOpenAsync)
    assert shared.transport.pool_count == 0  # no connection pool until a request is sent
    assert isinstance(shared_http_client(settings), client_module._KeepOpen)
    assert shared_http_client(settings)._routes[0].pool is None


def test_one_client_per_scope_whatever_the_number_of_models() -> None:
    before = len(client_module._async_clients), len(client_module._sync_clients)
    settings = KlusterSettings(**_fresh())
    for _ in range(20):
        ChatKluster(model=MODEL, settings=settings)
        make_async_client(settings)
        make_client(settings)
    after = len(client_module._async_clients), len(client_module._sync_clients)
    assert after == (before[0] + 1, before[1] + 1)


def test_a_model_built_outside_a_loop_works_from_successive_event_loops(kluster_emulator: Emulator) -> None:
    model = _model(kluster_emulator)
    shared = model.root_async_client._client
    assert isinstance(shared, client_module._KeepOpenAsync)

    async def ask() -> tuple[str, httpx.AsyncHTTPTransport | None]:
        message = await model.ainvoke("hello")
        return message.text, shared.transport.pool()

    first_text, first_pool = asyncio.run(ask())
    second_text, second_pool = asyncio.run(ask())
    assert first_text and second_text
    assert first_pool is not None and second_pool is not None
    assert first_pool is not second_pool  # a pool never crosses event loops
    assert shared.transport.pool_count == 1  # the closed loop's pool was dropped
    assert model.invoke("hello").text  # and the sync side works alongside


def test_concurrent_calls_in_one_loop_share_one_pool(kluster_emulator: Emulator) -> None:
    models = [_model(kluster_emulator) for _ in range(2)]
    settings = models[0].settings
    other = ChatKluster(model=MODEL, settings=settings, max_tokens=8)

    async def ask() -> int:
        await asyncio.gather(*(m.ainvoke(f"q{i}") for i, m in enumerate([models[0], other] * 3)))
        return shared_async_http_client(settings).transport.pool_count  # type: ignore[attr-defined]

    assert asyncio.run(ask()) == 1


def test_closing_one_sdk_client_leaves_the_shared_client_usable(kluster_emulator: Emulator) -> None:
    settings = KlusterSettings(**_fresh(kluster_emulator))
    model = ChatKluster(model=MODEL, settings=settings, max_tokens=8)
    with make_client(settings) as client:  # the SDK's `with` closes its http client on exit
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert model.invoke("still there?").text

    async def run() -> str:
        async with make_async_client(settings) as aclient:
            await aclient.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4
            )
        return (await model.ainvoke("still there?")).text

    assert asyncio.run(run())
    assert not shared_http_client(settings).is_closed
    assert not shared_async_http_client(settings).is_closed


def test_closing_one_sdk_client_does_not_cut_another_ones_stream(kluster_emulator: Emulator) -> None:
    settings = KlusterSettings(**_fresh(kluster_emulator))
    kluster_emulator.controls.script("word " * 50_000)  # megabytes of chunks: more than socket buffers hold
    streaming = make_client(settings)
    stream = streaming.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Tell me a long story"}], stream=True
    )
    first = next(iter(stream))
    with make_client(settings):  # another model's client closes while the stream is open
        pass
    rest = list(stream)
    assert first.choices and rest[-1].usage is not None  # read to the end (the estimated usage chunk)


def test_exit_hook_closes_sync_connections_and_a_later_request_reconnects(kluster_emulator: Emulator) -> None:
    settings = KlusterSettings(**_fresh(kluster_emulator))
    client = make_client(settings)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    lazy = shared_http_client(settings)._routes[0]  # type: ignore[attr-defined]
    assert lazy.pool is not None
    client_module._close_sync_pools()
    assert lazy.pool is None
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert lazy.pool is not None


def test_environment_proxies_still_route_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    settings = KlusterSettings(**_fresh())
    for shared in (shared_http_client(settings), shared_async_http_client(settings)):
        proxied = shared._transport_for_url(httpx.URL("https://api.kluster.ai/v1/models"))
        direct = shared._transport_for_url(httpx.URL("http://127.0.0.1:8000/v1/models"))
        assert getattr(proxied, "_proxy", None) == "http://proxy.invalid:3128"
        assert direct is shared._routes[0]  # type: ignore[attr-defined]


def test_one_ssl_context_for_every_pool(kluster_emulator: Emulator) -> None:
    settings = KlusterSettings(**_fresh(kluster_emulator))
    make_client(settings).models.list()

    async def run() -> None:
        await make_async_client(settings).models.list()

    asyncio.run(run())
    context = client_module._ssl_context()
    assert context is client_module._ssl_context()
    pools: list[Any] = [shared_http_client(settings)._routes[0].pool]  # type: ignore[attr-defined]
    pools.append(next(iter(shared_async_http_client(settings).transport._pools.values())))  # type: ignore[attr-defined]
    for pool in pools:
        assert pool._pool._ssl_context is context
