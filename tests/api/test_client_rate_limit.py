"""Client-side tier rate limits on the pools of `make_client`/`make_async_client` (so callers get no 429s).

The emulator enforces a small concurrency limit (it answers 429 past it, as the service does);
every call is made with `max_retries=0`, so a single 429 would be an error. With the client's
limits on, 0 calls fail; switched off, the same load trips the emulator's limit (the test can fail).
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from kluster_agents.integrations._api import limits
from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.limited_client import RateLimitedClient
from kluster_agents.integrations._api.limiter_registry import MODEL_EXTENSION, limiter_for, limiter_for_request
from kluster_agents.integrations._api.limits import RateLimiter
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations.emulator._server.server import Emulator

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
OTHER_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
LIMIT = 3
CALLS = 24
LATENCY = 0.05


def _settings(emulator: Emulator, **extra: Any) -> KlusterSettings:
    options: dict[str, Any] = {"max_retries": 0, "client_concurrency": LIMIT, "warn_on_drop": False, **extra}
    return KlusterSettings(base_url=emulator.base_url, api_key=emulator.api_key, **options)


def _load(emulator: Emulator) -> None:
    emulator.controls.enable_rate_limits(concurrency=LIMIT)
    emulator.controls.add_latency(LATENCY, path="/chat/completions")


def _sync_calls(client: openai.OpenAI) -> list[BaseException | None]:
    def one(i: int) -> BaseException | None:
        try:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}])
        except openai.OpenAIError as exc:
            return exc
        return None

    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(one, range(CALLS)))


async def _async_calls(client: openai.AsyncOpenAI, calls: int = CALLS) -> list[BaseException | None]:
    async def one(i: int) -> BaseException | None:
        try:
            await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}])
        except openai.OpenAIError as exc:
            return exc
        return None

    return await asyncio.gather(*(one(i) for i in range(calls)))


def test_sync_client_stays_within_the_concurrency_limit(kluster_emulator: Emulator) -> None:
    _load(kluster_emulator)
    errors = [e for e in _sync_calls(make_client(_settings(kluster_emulator))) if e is not None]
    assert errors == []
    assert kluster_emulator.controls.count("/chat/completions") == CALLS


async def test_async_client_stays_within_the_concurrency_limit(kluster_emulator: Emulator) -> None:
    _load(kluster_emulator)
    errors = [e for e in await _async_calls(make_async_client(_settings(kluster_emulator))) if e is not None]
    assert errors == []
    assert kluster_emulator.controls.count("/chat/completions") == CALLS


def test_switched_off_the_same_load_gets_429s(kluster_emulator: Emulator) -> None:
    """The control: without client limits the emulator refuses part of the same load."""
    _load(kluster_emulator)
    client = make_client(_settings(kluster_emulator, client_rate_limit=False))
    errors = [e for e in _sync_calls(client) if e is not None]
    assert errors and all(isinstance(e, openai.RateLimitError) for e in errors)


def test_env_switch_turns_it_off(kluster_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLUSTER_CLIENT_RATE_LIMIT", "false")
    assert KlusterSettings().client_rate_limit is False
    monkeypatch.setenv("KLUSTER_CLIENT_RATE_LIMIT", "true")
    assert KlusterSettings().client_rate_limit is True


def test_sync_and_async_clients_share_one_budget(kluster_emulator: Emulator) -> None:
    """Threads on the sync client and a loop on the async client draw from the same slots."""
    _load(kluster_emulator)
    settings = _settings(kluster_emulator)
    results: list[BaseException | None] = []

    def run_async() -> None:
        async def go() -> list[BaseException | None]:
            return await _async_calls(make_async_client(settings))

        results.extend(asyncio.run(go()))

    thread = threading.Thread(target=run_async)
    thread.start()
    results.extend(_sync_calls(make_client(settings)))
    thread.join()
    assert [e for e in results if e is not None] == []
    assert kluster_emulator.controls.count("/chat/completions") == 2 * CALLS


def test_limits_are_keyed_by_base_url_tier_and_model(kluster_emulator: Emulator) -> None:
    settings = _settings(kluster_emulator)
    limiter = limiter_for("llama-3.1-8b", settings)  # an alias names the same model
    assert limiter is limiter_for(MODEL, settings)
    assert limiter.concurrency == LIMIT and limiter.rpm == 600  # override + the core tier's catalog RPM
    assert limiter_for(MODEL, _settings(kluster_emulator, tier="trial")).rpm == 30


def test_a_stream_holds_its_slot_until_closed(kluster_emulator: Emulator) -> None:
    settings = _settings(kluster_emulator, client_concurrency=1)
    client = make_client(settings)
    limiter = limiter_for(MODEL, settings)
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True, max_completion_tokens=5
    )
    next(iter(stream))
    assert limiter._slots is not None and limiter._slots._free == 0
    stream.close()
    assert limiter._slots._free == 1
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "again"}])
    assert limiter._slots._free == 1  # a plain call gives its slot back


def test_other_endpoints_are_not_gated(kluster_emulator: Emulator) -> None:
    settings = _settings(kluster_emulator, client_concurrency=1)
    client = make_client(settings)
    limiter = limiter_for(MODEL, settings)
    hold = limiter.acquire()  # the only slot is taken ...
    try:
        started = time.monotonic()
        assert client.models.list().data  # ... and a GET still goes through at once
        assert time.monotonic() - started < 5
    finally:
        hold.release()


def test_cancelled_async_waiter_passes_its_slot_on() -> None:
    limiter = RateLimiter(rpm=None, concurrency=1)

    async def scenario() -> None:
        first = await limiter.aacquire()
        waiter = asyncio.ensure_future(limiter.aacquire())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        first.release()
        second = await asyncio.wait_for(limiter.aacquire(), 1)  # the cancelled waiter left nothing behind
        second.release()

    asyncio.run(scenario())
    assert limiter._slots is not None and limiter._slots._free == 1


def _stamp_of_one_call(emulator: Emulator, latency: float) -> tuple[float, float, float]:
    """(before the call, its RPM stamp, after the call) for one call answered `latency` s late."""
    settings = _settings(emulator, client_rpm=1)
    client = make_client(settings)
    ask = {"messages": [{"role": "user", "content": "hi"}]}
    client.chat.completions.create(model=OTHER_MODEL, **ask)  # the SDK's first-call imports, another budget
    emulator.controls.add_latency(latency, path="/chat/completions")
    started = time.monotonic()
    client.chat.completions.create(model=MODEL, **ask)
    window = limiter_for(MODEL, settings)._window
    assert window is not None
    (stamp,) = [ticket[0] for ticket in window._stamps]
    return started, stamp, time.monotonic()


def test_a_slow_answer_is_stamped_a_margin_after_the_send(
    kluster_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service counts a request when it arrives: a slow answer must not delay the next window."""
    monkeypatch.setattr(limits, "RPM_MARGIN_S", 0.2)
    started, stamp, answered = _stamp_of_one_call(kluster_emulator, 0.6)
    assert answered - started >= 0.6
    assert started + 0.2 <= stamp < started + 0.5  # written before the emulator held the answer 0.6 s


def test_an_answer_within_the_margin_is_the_stamp(kluster_emulator: Emulator) -> None:
    """The service counted the request before answering: the answer bounds its count, whatever lag the
    send had to the service (the margin after the send would be the later bound)."""
    started, stamp, answered = _stamp_of_one_call(kluster_emulator, 0.3)
    assert started + 0.3 <= stamp <= answered


def test_without_httpcore_the_slot_is_stamped_when_headers_arrive() -> None:
    """A transport that reports no send (a mock) is counted from its response headers, not its close."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(b"{}"))  # a body still to be read

    scope = ("core", 5, 5, None, False)
    client = RateLimitedClient(scope, transport=httpx.MockTransport(handler), base_url="http://mock.test/v1")
    request = client.build_request("POST", "/chat/completions", json={"model": MODEL, "messages": []})
    response = client.send(request, stream=True)
    limiter = limiter_for_request(request, scope)
    assert limiter is not None and limiter._window is not None and limiter._slots is not None
    assert limiter._window._stamps[-1][0] <= time.monotonic()  # stamped though the body is still open
    assert limiter._slots._free == 4
    response.close()
    assert limiter._slots._free == 5


def test_the_callers_own_trace_still_sees_every_event(kluster_emulator: Emulator) -> None:
    seen: list[str] = []

    def trace(name: str, info: dict[str, Any]) -> None:
        seen.append(name)

    scope = ("core", 5, 5, None, False)
    with RateLimitedClient(scope) as client:
        url = f"{kluster_emulator.base_url}/chat/completions"
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {kluster_emulator.api_key}"}
        request = client.build_request("POST", url, json=body, headers=headers, extensions={"trace": trace})
        assert client.send(request).status_code == 200
    assert any(name.endswith("send_request_body.complete") for name in seen)
    assert request.extensions["trace"] is trace  # handed back as it was


def test_no_call_fails_under_an_rpm_limit(kluster_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """RPM end to end with `max_retries=0`: the emulator's minute sped up to 1 s and the client's window
    alike, the margin in real time (an in-process emulator shares the GIL with the callers, so it may
    count a request well after its send: the quick answers bound that); 9 calls, 3 windows."""
    kluster_emulator.controls.clock.set_speed(60.0)
    kluster_emulator.controls.enable_rate_limits(rpm=3)
    monkeypatch.setattr(limits, "RPM_WINDOW_S", 1.0)
    settings = _settings(kluster_emulator, client_rpm=3, client_concurrency=100)

    started = time.monotonic()
    assert [e for e in asyncio.run(_async_calls(make_async_client(settings), calls=9)) if e is not None] == []
    assert time.monotonic() - started >= 2 * 1.0  # three waves: paced, not lucky
    unlimited = make_async_client(_settings(kluster_emulator, client_rate_limit=False))
    errors = [
        e for e in asyncio.run(_async_calls(unlimited, calls=9)) if e is not None
    ]  # the control: the same load trips it
    assert errors and all(isinstance(e, openai.RateLimitError) for e in errors)


def test_kluster_clients_name_the_model_so_the_limiter_parses_no_body() -> None:
    """The kluster client names each request's model in `MODEL_EXTENSION` (extra_body's when it sets one,
    as the SDK merges it into the body); the limiter takes it from there instead of parsing the body."""
    named: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        named.append(request.extensions.get(MODEL_EXTENSION))
        message = {"role": "assistant", "content": "ok"}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return httpx.Response(
            200, json={"id": "c", "object": "chat.completion", "created": 0, "model": MODEL, "choices": [choice]}
        )

    settings = KlusterSettings(base_url="http://mock.test/v1", api_key="k", max_retries=0, warn_on_drop=False)
    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = make_client(settings, http_client=http)
    messages = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model=MODEL, messages=messages)
    other = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
    client.chat.completions.create(model=MODEL, messages=messages, extra_body={"model": other})
    assert named == [MODEL, other]

    scope = ("core", 5, 5, None, False)
    unread = httpx.Request("POST", "http://mock.test/v1/chat/completions", content=iter([b"{}"]))
    assert limiter_for_request(unread, scope) is None  # a body it cannot read names no model
    unread.extensions[MODEL_EXTENSION] = MODEL
    assert limiter_for_request(unread, scope) is limiter_for(
        MODEL, KlusterSettings(base_url="http://mock.test/v1", tier="core", client_rpm=5, client_concurrency=5)
    )
