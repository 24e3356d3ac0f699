"""RateLimiter: RPM pacing, concurrency, Retry-After pauses, and the catalog registry."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterRateLimitError
from kluster_agents.integrations._api.limits import (
    IN_FLIGHT_POLL_S,
    RPM_MARGIN_S,
    RPM_WINDOW_S,
    SERVICE_WINDOW_S,
    Hold,
    RateLimiter,
    limiter_for,
)
from kluster_agents.integrations._api.settings import KlusterSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rpm_window_counts_requests_from_their_send():
    clock = FakeClock()
    window = RateLimiter(rpm=2, concurrency=None, clock=clock)._window
    (w1, first), (w2, _second) = window.try_book(), window.try_book()
    assert w1 == w2 == 0.0
    assert window.try_book() == (IN_FLIGHT_POLL_S, None)  # the oldest is not on the wire yet
    clock.now += 5
    window.done(first)  # its body was written at t=5: the service counts it from its arrival
    clock.now += 30  # ... and its answer, however late, changes nothing
    window.done(first)
    assert window.try_book() == (pytest.approx(RPM_WINDOW_S - 30), None)
    clock.now += RPM_WINDOW_S - 30
    wait, third = window.try_book()
    assert wait == 0.0 and third is not None
    assert window.try_book() == (IN_FLIGHT_POLL_S, None)  # `second` has not been sent yet


def test_rpm_window_frees_with_the_earliest_sent_request_not_the_earliest_booked():
    """Requests may go on the wire out of booking order: the window reopens a full window after the
    earliest send (the service counted that one first), and never lets more than `rpm` in per window."""
    clock = FakeClock()
    window = RateLimiter(rpm=2, concurrency=None, clock=clock)._window
    (_, first), (_, second) = window.try_book(), window.try_book()
    window.done(second)  # booked second, sent first (the first was still waiting for a connection)
    clock.now += 0.45
    window.done(first)
    clock.now += RPM_WINDOW_S - 0.45  # a full window after `second` was sent, 0.45 s short for `first`
    wait, third = window.try_book()
    assert wait == 0.0 and third is not None  # takes the place of `second`
    window.done(third)
    assert window.try_book() == (pytest.approx(0.45), None)  # `first` is still in the window
    clock.now += 0.45
    assert window.try_book()[0] == 0.0


def test_rpm_window_is_the_services_minute_plus_a_margin():
    assert RPM_WINDOW_S == SERVICE_WINDOW_S + RPM_MARGIN_S
    assert RPM_MARGIN_S <= SERVICE_WINDOW_S * 0.05 / 0.95  # the margin alone still leaves >= 95%


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("booked_ahead", [1, 4])
def test_rpm_window_never_exceeds_the_service_window_and_uses_it(seed: int, booked_ahead: int) -> None:
    """Fake clock, a greedy caller, each request reaching the service up to `jitter` s after its stamp
    (the network): in any 60 s of arrivals at most `rpm` requests (the service's sliding window), and
    over ten windows at least 95% of the requests the service would have allowed. With `booked_ahead`
    > 1, up to that many admitted requests wait to be sent, and go in random order."""
    rng = random.Random(seed)
    clock = FakeClock()
    rpm, windows, jitter = 10, 10, 0.5
    limiter = RateLimiter(rpm=rpm, concurrency=None, clock=clock)
    arrivals: list[float] = []
    pending: list[Hold] = []
    while len(arrivals) < rpm * (windows + 1):
        if len(pending) < booked_ahead:
            wait, ticket = limiter._next_wait()
            if not wait:
                pending.append(Hold(limiter, ticket))
                continue
            if not pending:
                clock.now += wait
                continue
        clock.now += rng.uniform(0, 0.2)  # building and writing the request
        pending.pop(rng.randrange(len(pending))).sent()
        arrivals.append(clock.now + rng.uniform(0, jitter))
        clock.now += rng.uniform(0, 0.05)
    arrivals.sort()
    assert all(late - early >= SERVICE_WINDOW_S for early, late in zip(arrivals, arrivals[rpm:], strict=False))
    assert windows * SERVICE_WINDOW_S / (arrivals[windows * rpm] - arrivals[0]) >= 0.95


def test_an_answer_without_a_sent_stamp_stamps_at_release():
    """A request the transport never reported sent is counted from its release (the safe end)."""
    clock = FakeClock()
    limiter = RateLimiter(rpm=1, concurrency=None, clock=clock)
    hold = limiter.acquire()
    clock.now += 7
    hold.release()
    assert limiter._next_wait() == (pytest.approx(RPM_WINDOW_S), None)


def test_waiters_for_the_window_are_served_in_arrival_order():
    limiter = RateLimiter(rpm=2, concurrency=None)
    limiter._window.window_s = 0.15

    async def scenario() -> list[int]:
        order: list[int] = []

        async def one(i: int) -> None:
            hold = await limiter.aacquire()
            order.append(i)
            hold.release()

        await asyncio.gather(*(one(i) for i in range(6)))
        return order

    assert asyncio.run(scenario()) == list(range(6))


def test_rpm_paces_real_calls():
    limiter = RateLimiter(rpm=3, concurrency=None)
    limiter._window.window_s = 0.2  # a 0.2 s "minute"
    started = time.monotonic()
    stamps = []
    for _ in range(7):
        with limiter.slot():
            stamps.append(time.monotonic() - started)
    assert stamps[2] < 0.1 and stamps[3] >= 0.2 and stamps[6] >= 0.4


def test_call_retries_after_a_429_and_gives_up_eventually():
    limiter = RateLimiter(rpm=None, concurrency=None, max_rate_limit_retries=2)
    attempts = []

    def flaky():
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise KlusterRateLimitError("429", retry_after=0.05)
        return "ok"

    assert limiter.call(flaky) == "ok"
    assert attempts[1] - attempts[0] >= 0.045 and limiter.rate_limited == 2

    def always():
        raise KlusterRateLimitError("429", retry_after=0.0)

    with pytest.raises(KlusterRateLimitError):
        limiter.call(always)


async def test_acall_honours_retry_after():
    limiter = RateLimiter(rpm=None, concurrency=None)
    calls = []

    async def flaky():
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise KlusterRateLimitError("429", retry_after=0.05)
        return 42

    assert await limiter.acall(flaky) == 42
    assert calls[1] - calls[0] >= 0.045


async def test_async_concurrency_is_capped():
    limiter = RateLimiter(rpm=None, concurrency=2)
    state = {"now": 0, "peak": 0}

    async def work():
        async with limiter.aslot():
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            await asyncio.sleep(0.01)
            state["now"] -= 1

    await asyncio.gather(*(work() for _ in range(10)))
    assert state["peak"] == 2


def test_async_slots_work_on_successive_event_loops():
    limiter = RateLimiter(rpm=None, concurrency=1)

    async def contend():
        async def one():
            async with limiter.aslot():
                await asyncio.sleep(0.001)

        await asyncio.gather(one(), one())

    asyncio.run(contend())
    asyncio.run(contend())  # a semaphore bound to the first loop would raise here


def test_sync_concurrency_is_capped():
    limiter = RateLimiter(rpm=None, concurrency=3)
    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def work():
        with limiter.slot():
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(0.01)
            with lock:
                state["now"] -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state["peak"] == 3


def test_limiter_for_uses_the_catalog_and_is_shared():
    core = KlusterSettings.load(api_key="k-1234", tier="core")
    trial = KlusterSettings.load(api_key="k-1234", tier="trial")
    a = limiter_for("klusterai/verify-reliability", core)
    assert (a.rpm, a.concurrency) == (600, 100)
    assert limiter_for("verify", core) is a  # aliases resolve to one limiter
    t = limiter_for("klusterai/verify-reliability", trial)
    assert (t.rpm, t.concurrency) == (30, 20) and t is not a
    unknown = limiter_for("my-dedicated-endpoint-xyz", core)
    assert (unknown.rpm, unknown.concurrency) == (None, None)


def test_invalid_limits_are_refused():
    with pytest.raises(KlusterConfigError):
        RateLimiter(rpm=0, concurrency=None)
