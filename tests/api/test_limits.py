"""RateLimiter: RPM pacing, concurrency, Retry-After pauses, and the catalog registry."""

from __future__ import annotations

import asyncio
import heapq
import random
import threading
import time

import pytest

from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterRateLimitError
from kluster_agents.integrations._api.limiter_registry import limiter_for
from kluster_agents.integrations._api.limits import (
    IN_FLIGHT_POLL_S,
    RPM_MARGIN_S,
    RPM_WINDOW_S,
    Hold,
    RateLimiter,
)
from kluster_agents.integrations._api.settings import KlusterSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rpm_window_counts_a_request_from_its_answer_or_a_margin_after_its_send():
    """The service counts a request between its send and its answer: the stamp is the earlier of the
    two upper bounds of that moment, the answer or `RPM_MARGIN_S` after the send."""
    clock = FakeClock()
    window = RateLimiter(rpm=2, concurrency=None, clock=clock)._window
    assert window is not None
    (w1, quick), (w2, slow) = window.try_book(), window.try_book()
    assert w1 == w2 == 0.0
    assert window.try_book() == (IN_FLIGHT_POLL_S, None)  # the oldest is not on the wire yet
    clock.now += 5
    window.stamp(quick, RPM_MARGIN_S)  # `Hold.sent`: its body was written at t=5
    assert window.try_book() == (pytest.approx(RPM_MARGIN_S), None)  # its answer may still bring it forward
    clock.now += 0.3
    window.stamp(quick, 0.0)  # `Hold.answered` at t=5.3: counted by then
    window.stamp(slow, RPM_MARGIN_S)  # sent at t=5.3 ...
    clock.now += 30
    window.stamp(slow, 0.0)  # ... answered 30 s later: counted at t=6.3 at the latest
    window.stamp(quick, RPM_MARGIN_S)  # a later bound changes nothing
    assert sorted(t[0] for t in window._stamps) == [pytest.approx(1005.3), pytest.approx(1005.3 + RPM_MARGIN_S)]
    assert window.try_book() == (pytest.approx(RPM_WINDOW_S - 30), None)
    clock.now += RPM_WINDOW_S - 30
    wait, third = window.try_book()
    assert wait == 0.0 and third is not None
    assert window.try_book() == (pytest.approx(RPM_MARGIN_S), None)  # then `slow` leaves the window


def test_rpm_window_frees_with_the_earliest_stamped_request_not_the_earliest_booked():
    """Requests may go on the wire out of booking order: the window reopens a full window after the
    earliest stamp (the service counted that one first), and never lets more than `rpm` in per window."""
    clock = FakeClock()
    limiter = RateLimiter(rpm=2, concurrency=None, clock=clock)
    window = limiter._window
    assert window is not None
    first, second = Hold(limiter, window.try_book()[1]), Hold(limiter, window.try_book()[1])
    second.release()  # booked second, sent and answered first (the first still waited for a connection)
    clock.now += 0.45
    first.release()
    clock.now += RPM_WINDOW_S - 0.45  # a full window after `second`, 0.45 s short for `first`
    wait, third = window.try_book()
    assert wait == 0.0 and third is not None  # takes the place of `second`
    window.stamp(third, 0.0)
    assert window.try_book() == (pytest.approx(0.45), None)  # `first` is still in the window
    clock.now += 0.45
    assert window.try_book()[0] == 0.0


def test_rpm_window_is_the_services_minute_and_the_margin_a_bound_on_its_count():
    assert RPM_WINDOW_S == 60.0
    assert RPM_MARGIN_S <= RPM_WINDOW_S * 0.05 / 0.95  # the margin alone still leaves >= 95%


def _greedy_caller(
    rng: random.Random, window_s: float, lag: float, answer: tuple[float, float], booked_ahead: int
) -> list[float]:
    """A greedy caller on a fake clock, RPM 10 for 11 windows: up to `booked_ahead` admitted requests
    wait to be sent and go in random order; each reaches the service up to `lag` s after its send (the
    network, a busy front door) and is answered `answer` s (a range) after that. Returns the arrivals."""
    clock = FakeClock()
    rpm = 10
    limiter = RateLimiter(rpm=rpm, concurrency=None, clock=clock)
    assert limiter._window is not None
    limiter._window.window_s = window_s
    arrivals: list[float] = []
    pending: list[Hold] = []
    answers: list[tuple[float, int, Hold]] = []

    def advance(seconds: float) -> None:
        until = clock.now + seconds
        while answers and answers[0][0] <= until:
            clock.now, _, hold = heapq.heappop(answers)
            hold.release()  # its answer read
        clock.now = until

    while len(arrivals) < rpm * 11:
        if len(pending) < booked_ahead:
            wait, ticket = limiter._next_wait()
            if not wait:
                pending.append(Hold(limiter, ticket))
                continue
            if not pending:
                advance(wait)
                continue
        advance(rng.uniform(0, 0.2))  # building and writing the request
        hold = pending.pop(rng.randrange(len(pending)))
        hold.sent()
        arrivals.append(clock.now + rng.uniform(0, lag))
        heapq.heappush(answers, (arrivals[-1] + rng.uniform(*answer), len(arrivals), hold))
        advance(rng.uniform(0, 0.05))
    return sorted(arrivals)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("booked_ahead", [1, 4])
@pytest.mark.parametrize(
    ("window_s", "lag", "answer", "goal"),
    [
        (RPM_WINDOW_S, 0.5, (0.0, 0.1), 0.99),  # short or streamed answers: each costs its response time
        (RPM_WINDOW_S, 0.5, (2.0, 10.0), 0.95),  # long generations: each costs the margin
        (6.0, 0.2, (0.0, 0.05), 0.95),  # a minute scaled 10x for tests: lags 2x a margin scaled alike
    ],
)
def test_rpm_window_never_exceeds_the_service_window_and_uses_it(
    seed: int, booked_ahead: int, window_s: float, lag: float, answer: tuple[float, float], goal: float
) -> None:
    """In any `window_s` of arrivals at most `rpm` requests (the service's sliding window), with each
    request reaching the service up to `lag` s after its send; over ten windows at least `goal` of the
    requests the service would have allowed (a lag costs itself: the next request's arrival is that
    late too)."""
    arrivals = _greedy_caller(random.Random(seed), window_s, lag, answer, booked_ahead)
    assert all(late - early >= window_s for early, late in zip(arrivals, arrivals[10:], strict=False))
    assert 10 * window_s / (arrivals[100] - arrivals[0]) >= goal


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
