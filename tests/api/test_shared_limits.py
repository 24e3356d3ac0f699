"""The rate-limit budget shared through a real Redis server (KLUSTER_RATE_LIMIT_STORE): one budget for
every limiter and process on a key, slots of a killed worker recovered, a dead store failing loudly
or falling back, and the API key never in Redis."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest
import redis

from kluster_agents.integrations import KlusterSettings
from kluster_agents.integrations._api import limits
from kluster_agents.integrations._api._limit_store import (
    LimitStore,
    SharedRateLimiter,
    budget_key,
    check_store,
    display_url,
)
from kluster_agents.integrations._api.client import make_client
from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterRateLimitStoreError
from kluster_agents.integrations._api.limiter_registry import limiter_for
from tests.redis_server import RedisServer

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
KEY = "sk-shared-limits-test-key-0123456789"


def _limiter(server: RedisServer, rpm: int | None, concurrency: int | None, **kwargs: object) -> SharedRateLimiter:
    """What each worker process builds: its own store connection, the same budget key."""
    store = LimitStore(server.url, lease_s=float(kwargs.pop("lease_s", 30.0)))  # type: ignore[arg-type]
    prefix = budget_key(KEY, "http://x/v1", MODEL, "trial")
    return SharedRateLimiter(rpm, concurrency, name="test", store=store, prefix=prefix, **kwargs)  # type: ignore[arg-type]


def test_two_limiters_share_one_rpm_budget(redis_server: RedisServer) -> None:
    redis.Redis.from_url(redis_server.url).flushdb()
    a, b = _limiter(redis_server, 3, None), _limiter(redis_server, 3, None)
    admitted = [a._admit()[1], b._admit()[1], a._admit()[1]]
    assert all(hold is not None for hold in admitted)
    for hold in admitted:
        hold.sent()  # type: ignore[union-attr]
        hold.answered()  # type: ignore[union-attr]
    for limiter in (a, b):  # the minute's three are answered, whichever process booked them
        wait, hold = limiter._admit()
        assert hold is None
        assert 50 < wait <= limits.RPM_WINDOW_S


def test_a_booked_request_keeps_its_place_until_it_is_sent(redis_server: RedisServer) -> None:
    """A request that waits longer than a window for its connection is still counted when it goes out:
    the service counts it then, so nobody may take its place in the meantime."""
    redis.Redis.from_url(redis_server.url).flushdb()
    a, b = _limiter(redis_server, 1, None), _limiter(redis_server, 1, None)
    a._window.window_s = b._window.window_s = a.window_s = b.window_s = 0.3  # type: ignore[union-attr]
    wait, hold = a._admit()
    assert hold is not None
    time.sleep(0.5)  # longer than the window, not sent yet
    assert b._admit() == (limits.IN_FLIGHT_POLL_S, None)  # poll until it is sent
    hold.sent()
    hold.answered()
    wait, _ = b._admit()
    assert 0.2 < wait <= 0.3  # a window from when it went out
    time.sleep(wait)
    assert b._admit()[1] is not None


def test_a_request_answered_within_the_margin_is_counted_from_its_answer(redis_server: RedisServer) -> None:
    """The service counted a request by the time it answered: the stamp is its answer, not the margin
    after its send (which another process waits for only until the answer may come)."""
    redis.Redis.from_url(redis_server.url).flushdb()
    a, b = _limiter(redis_server, 1, None), _limiter(redis_server, 1, None)
    hold = a._admit()[1]
    assert hold is not None
    hold.sent()
    wait, _ = b._admit()
    assert 0.5 * limits.RPM_MARGIN_S < wait <= limits.RPM_MARGIN_S  # its stamp is still ahead: ask again then
    hold.answered()
    hold.sent()  # a later, weaker bound changes nothing
    wait, _ = b._admit()
    assert limits.RPM_WINDOW_S - 0.5 < wait <= limits.RPM_WINDOW_S


def test_a_slow_answer_leaves_the_request_counted_a_margin_after_its_send(redis_server: RedisServer) -> None:
    redis.Redis.from_url(redis_server.url).flushdb()
    a, b = _limiter(redis_server, 1, None), _limiter(redis_server, 1, None)
    for limiter in (a, b):
        limiter.window_s, limiter.margin_s = 0.5, 0.2
    hold = a._admit()[1]
    assert hold is not None
    hold.sent()
    time.sleep(0.35)  # the answer comes after the margin
    hold.release()
    wait, _ = b._admit()
    assert 0.2 < wait <= 0.35  # 0.2 + 0.5 s after the send, not 0.5 s after the answer


def test_two_limiters_share_concurrency_slots(redis_server: RedisServer) -> None:
    redis.Redis.from_url(redis_server.url).flushdb()
    a, b = _limiter(redis_server, None, 2), _limiter(redis_server, None, 2)
    first, second = a.acquire(), a.acquire()
    wait, hold = b._admit()
    assert hold is None and wait == limits.IN_FLIGHT_POLL_S
    first.release()
    second.release()
    b.acquire().release()


def _worker_script(server: RedisServer, body: str) -> str:
    return textwrap.dedent(f"""
        import os, sys, time
        from kluster_agents.integrations._api._limit_store import LimitStore, SharedRateLimiter, budget_key
        store = LimitStore({server.url!r}, lease_s=float(os.environ.get("LEASE", "30")))
        prefix = budget_key({KEY!r}, "http://x/v1", {MODEL!r}, "trial")
    """) + textwrap.dedent(body)


def test_two_processes_share_one_budget_through_the_setting(redis_server: RedisServer) -> None:
    redis.Redis.from_url(redis_server.url).flushdb()
    script = textwrap.dedent(f"""
        from kluster_agents.integrations._api.limiter_registry import limiter_for
        limiter = limiter_for({MODEL!r})
        print(sum(limiter._admit()[1] is not None for _ in range(5)))
    """)
    env = {
        **os.environ,
        "KLUSTER_RATE_LIMIT_STORE": redis_server.url,
        "KLUSTER_API_KEY": KEY,
        "KLUSTER_CLIENT_RPM": "6",
    }
    workers = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    admitted = [int(w.communicate(timeout=60)[0]) for w in workers]
    assert sum(admitted) == 6, admitted  # 5 + 5 asked, one budget of 6


def test_a_killed_workers_slots_come_back_after_the_lease(redis_server: RedisServer) -> None:
    redis.Redis.from_url(redis_server.url).flushdb()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _worker_script(
                redis_server,
                """
                limiter = SharedRateLimiter(None, 2, name="w", store=store, prefix=prefix)
                holds = [limiter.acquire(), limiter.acquire()]
                print("held", flush=True)
                time.sleep(600)
                """,
            ),
        ],
        env={**os.environ, "LEASE": "2"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        other = _limiter(redis_server, None, 2)
        assert other._admit()[1] is None  # both slots are the holder's
        time.sleep(3)  # a live holder renews its leases (every lease / 3)
        assert other._admit()[1] is None
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 30
        while (hold := other._admit()[1]) is None:
            assert time.monotonic() < deadline, "the killed worker's slots never came back"
            time.sleep(0.2)
        hold.release()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.timeout(120)
def test_redis_killed_mid_run_raises_the_typed_error(
    fresh_redis_server: RedisServer, kluster_emulator_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLUSTER_RATE_LIMIT_STORE", fresh_redis_server.url)
    monkeypatch.setenv("KLUSTER_MAX_RETRIES", "0")
    client = make_client()
    ask = lambda: client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])  # noqa: E731
    assert ask().choices[0].message.content
    in_flight = limiter_for(MODEL).acquire()
    fresh_redis_server.kill()
    in_flight.release()  # a request admitted before the store died finishes normally
    started = time.monotonic()
    with pytest.raises(KlusterRateLimitStoreError) as caught:
        ask()
    assert time.monotonic() - started < 30
    assert "KLUSTER_RATE_LIMIT_STORE_FALLBACK=local" in str(caught.value)
    assert f"127.0.0.1:{fresh_redis_server.port}" in str(caught.value)


@pytest.mark.timeout(120)
def test_redis_killed_mid_run_falls_back_to_the_local_limiter(
    fresh_redis_server: RedisServer,
    kluster_emulator_env: object,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("KLUSTER_RATE_LIMIT_STORE", fresh_redis_server.url)
    monkeypatch.setenv("KLUSTER_RATE_LIMIT_STORE_FALLBACK", "local")
    client = make_client()
    answers = [
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}]) for i in range(3)
    ]
    fresh_redis_server.kill()
    with caplog.at_level(logging.WARNING):
        answers += [
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}])
            for i in range(3, 6)
        ]
    assert len([a for a in answers if a.choices[0].message.content]) == 6  # nothing lost
    assert "KLUSTER_RATE_LIMIT_STORE_FALLBACK=local" in caplog.text
    limiter = limiter_for(MODEL)
    assert isinstance(limiter, SharedRateLimiter) and limiter.local


def test_the_api_key_is_never_in_redis_keys(
    redis_server: RedisServer, kluster_emulator_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis.Redis.from_url(redis_server.url).flushdb()
    monkeypatch.setenv("KLUSTER_RATE_LIMIT_STORE", redis_server.url)
    make_client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    keys = [k.decode() for k in redis.Redis.from_url(redis_server.url).keys("*")]
    assert keys and all(k.startswith("kluster:limits:") for k in keys)
    key = os.environ["KLUSTER_API_KEY"]
    assert not any(key in k for k in keys)
    assert budget_key(KEY, "http://x/v1", MODEL, "trial").count(KEY) == 0


def test_the_store_password_is_never_in_errors(free_port: object) -> None:
    url = f"redis://worker:hunter2-store-password@127.0.0.1:{free_port()}/0"  # type: ignore[operator]
    assert display_url(url) == url.replace("hunter2-store-password", "***")
    settings = KlusterSettings.load(rate_limit_store=url)
    assert "hunter2" not in repr(settings)
    ok, text = check_store(settings)
    assert not ok and "hunter2" not in text and "worker:***@127.0.0.1" in text
    with pytest.raises(KlusterRateLimitStoreError) as caught:
        LimitStore(url).ping()
    assert "hunter2" not in str(caught.value)


def test_the_store_must_be_a_redis_url() -> None:
    with pytest.raises(KlusterConfigError, match="KLUSTER_RATE_LIMIT_STORE"):
        KlusterSettings.load(rate_limit_store="http://127.0.0.1:6379")


def test_without_the_setting_the_limiter_stays_in_process() -> None:
    assert type(limiter_for(MODEL)) is limits.RateLimiter
