"""Client-side rate limiting for real-time calls: requests per minute and concurrency per
model and tier (from the catalog), with the server's `Retry-After` honoured on a 429.

Why client-side: kluster answers 429 once a key goes over its tier's RPM or concurrency;
pacing requests here turns "N concurrent calls" into a steady stream that never trips it.

One `RateLimiter` per (base URL, tier, model) is shared process-wide (`limiter_registry.limiter_for`):
- RPM is a sliding window (never more than `rpm` requests in any minute, each stamped no earlier than
  the service counted it, see `_SlidingWindow`) shared by every thread and event loop, so sync and
  async callers draw from one budget; callers waiting for it line up first come, first served, so only
  the head of the line sleeps on the window;
- concurrency is `_Slots`, one count shared by threads and every event loop alike;
- `call`/`acall` (Verify) retry a 429 after its `Retry-After`, capped, for that caller only;
  on the client pools the SDK retries the 429 after its Retry-After;
- the catalog's numbers are a ceiling: a 429 on the client pools lowers the limit it names and each
  window without one raises it a step again (`RateLimiter.learn_from_429`), so a key whose real limits
  are tighter stops being refused after its first burst, on every path alike.

Every chat, completion and embedding request of a client from `make_client`/`make_async_client`
goes through its model's limiter (`RateLimitedClient`, the shared pools), so LangChain, LiteLLM,
CrewAI, PydanticAI and the core share one budget per model; `KLUSTER_CLIENT_RATE_LIMIT=false`
turns it off, `KLUSTER_CLIENT_RPM`/`KLUSTER_CLIENT_CONCURRENCY` replace the catalog's numbers.

Why not `aiolimiter`: its leaky bucket configured as (rpm, 60 s) admits up to 2 x rpm in one
sliding minute (a full bucket, then the refill), which is exactly what the service answers with
429; and an `AsyncLimiter` serves one event loop only, while this budget is shared with threads
and successive loops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import TypeVar

from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterRateLimitError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The waits after a 429 (`call`/`acall`), by name so tests can record them without patching the
# `time`/`asyncio` modules every thread and event loop of the process share.
_sleep = time.sleep
_asleep = asyncio.sleep
DEFAULT_RETRY_AFTER = 1.0  # seconds to back off when a 429 carries no Retry-After header
# The docs give the limit as "Requests per minute" and say no more. A sliding window is the strict
# reading (a fixed calendar minute admits fewer requests per window, never more), so the client keeps
# at most `rpm` requests in any window of 60 s, which satisfies both.
RPM_WINDOW_S = 60.0
# How long after its body was written the service has counted a request at the latest (the network's
# one-way delay and the service's front door): the stamp of a request whose answer takes longer. Real
# time: it does not shrink with a window scaled for tests.
RPM_MARGIN_S = 1.0
IN_FLIGHT_POLL_S = 0.05  # re-check interval while the request that frees the next RPM slot is not yet sent
RECOVERY_STEP = 0.05  # of the ceiling: how much a lowered limit rises per window without a 429


class _SlidingWindow:
    """At most `rpm` requests in any window of `window_s` seconds, as the service counts them.

    The service counts a request at a moment the client cannot see, only bound: after its body was
    written (`Hold.sent`) and before its response headers came back (`Hold.answered`). Each request is
    stamped with the earlier of two upper bounds of that moment: its answer, or `margin_s` after its
    send (for answers slower than that, as a non-streamed generation). Once `rpm` requests are booked, a
    new one may start only when the earliest-stamped of them is a full window old (it then takes that
    one's place). The send alone is no upper bound: a service slow to count one request (0.25 s on a
    loaded machine) saw the next window's first request early, a 429. The answer alone would cost a
    whole LLM response time per window; this costs the response time, at most the margin. Requests are
    not always sent in booking order (one may wait for a connection while the next goes): waiting on the
    earliest-booked instead cost a window as much as that request's delay (0.45 s of a 6 s window through
    LiteLLM). (A token bucket refilled continuously would let up to 2x rpm into one window.)"""

    def __init__(self, rpm: int, clock: Callable[[], float], window_s: float, margin_s: float) -> None:
        self.rpm = rpm
        self.window_s = window_s
        self.margin_s = margin_s
        self._clock = clock
        self._stamps: list[list[float]] = []  # one [stamp] per booked request; +inf until sent
        self._lock = threading.Lock()

    def try_book(self) -> tuple[float, list[float] | None]:
        """(0, ticket) when a request may start now; else (seconds to wait before asking again, None)."""
        with self._lock:
            now = self._clock()
            if len(self._stamps) >= self.rpm:
                # sent a window ago: the service no longer counts them
                self._stamps = [s for s in self._stamps if s[0] + self.window_s > now]
            if len(self._stamps) >= self.rpm:  # more than `rpm` after the limit was lowered: wait for the surplus
                stamp = sorted(s[0] for s in self._stamps)[len(self._stamps) - self.rpm]
                return _wait_for(stamp, now, self.window_s), None
            ticket = [math.inf]
            self._stamps.append(ticket)
            return 0.0, ticket

    def booked(self) -> int:
        """Requests counted in the current window (sent less than a window ago, or not yet sent)."""
        with self._lock:
            now = self._clock()
            return sum(1 for s in self._stamps if s[0] + self.window_s > now)

    def stamp(self, ticket: list[float], offset: float) -> None:
        """Stamp `ticket` `offset` s from now, unless it is stamped earlier already (the earliest upper
        bound wins: `margin_s` after the send, the answer, the release)."""
        with self._lock:
            ticket[0] = min(ticket[0], self._clock() + offset)


def _wait_for(stamp: float, now: float, window_s: float) -> float:
    """Seconds to wait for the request stamped `stamp` to leave the window; before that stamp (sent, not
    answered yet) only until it, as its answer may still bring it forward."""
    if stamp == math.inf:  # not on the wire yet
        return IN_FLIGHT_POLL_S
    return stamp - now if stamp > now else stamp + window_s - now


class _Slots:
    """`n` concurrency slots shared by every thread and every event loop of the process.

    `asyncio.Semaphore` serves one loop and `threading.Semaphore` blocks a loop, so a budget that
    sync and async clients (and successive `asyncio.run`s) draw from together needs its own gate:
    first come, first served; a freed slot is handed straight to the oldest waiter."""

    def __init__(self, n: int) -> None:
        self._free = n  # below 0 after `shrink()` while more than the new capacity are held
        self.held = 0
        self._waiters: deque[threading.Event | tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                self.held += 1
                return
            event = threading.Event()
            self._waiters.append(event)
        event.wait()

    async def aacquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                self.held += 1
                return
            waiter = (loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:  # still queued: nothing was handed to us
                    self._waiters.remove(waiter)
                    raise
            self.release()  # the slot was handed over as we were cancelled: pass it on
            raise

    def release(self) -> None:
        with self._lock:
            self.held -= 1
            if not self._waiters or self._free < 0:  # nobody to hand it to: `grow`'s first step, one lock
                self._free += 1
                return
        self.grow()

    def shrink(self) -> None:
        """One slot fewer: the next release that would have freed it does not."""
        with self._lock:
            self._free -= 1

    def grow(self) -> None:
        """One slot more: handed straight to the oldest waiter, if any."""
        while True:
            with self._lock:
                if not self._waiters or self._free < 0:
                    self._free += 1
                    return
                waiter = self._waiters.popleft()
                self.held += 1
            if isinstance(waiter, threading.Event):
                waiter.set()
                return
            loop, future = waiter
            try:
                loop.call_soon_threadsafe(_wake, future)
                return
            except RuntimeError:  # that loop is closed: give the slot to the next waiter
                with self._lock:
                    self.held -= 1
                continue


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# The limiters whose slot the current call already holds: a request sent from inside
# `RateLimiter.slot()` (Verify) is not gated a second time by the client's own limiting.
_held: ContextVar[tuple[RateLimiter, ...]] = ContextVar("kluster_limits_held", default=())


def holds(limiter: RateLimiter) -> bool:
    """True inside a `slot()`/`aslot()` of `limiter` (in this thread or task)."""
    return limiter in _held.get()  # limiters compare by identity


class Hold:
    """One admitted request: `sent()` (its body written) and `answered()` (its response headers back)
    stamp its RPM slot, the earliest upper bound winning (see `_SlidingWindow`); `release()` (idempotent)
    stamps it as answered and frees its concurrency slot. It remembers what else was in flight and in the
    window when it was admitted: if the service refuses it, that is more than the service allows."""

    __slots__ = ("_limiter", "_released", "_ticket", "booked_before", "generation", "held_before")

    def __init__(self, limiter: RateLimiter, ticket: list[float] | None) -> None:
        self._limiter, self._ticket, self._released = limiter, ticket, False
        self.generation = limiter._generation
        self.booked_before = limiter._window.booked() - 1 if limiter._window is not None else 0
        self.held_before = limiter._slots.held - 1 if limiter._slots is not None else 0

    def sent(self) -> None:
        if self._ticket is not None and self._limiter._window is not None:
            self._limiter._window.stamp(self._ticket, self._limiter._window.margin_s)

    def answered(self) -> None:
        if self._ticket is not None and self._limiter._window is not None:
            self._limiter._window.stamp(self._ticket, 0.0)

    def release(self) -> None:
        with self._limiter._lock:
            if self._released:
                return
            self._released = True
        self.answered()
        if self._limiter._slots is not None:
            self._limiter._slots.release()


class RateLimiter:
    """RPM + concurrency gate for one model on one tier; `None` means unlimited.

    Sync and async callers, on any thread or event loop, share one budget. The catalog's numbers are
    a ceiling, not a promise: a key's real limits can be tighter (a shared key, an account's own cap).
    So a 429 on a limited client lowers the limit it names (`learn_from_429`): concurrency is halved
    from what was in flight, RPM set to what the window held; once per reaction, since every request
    of a burst admitted under the old limit comes back refused. Each window without a 429 then raises
    the lowered limits by `RECOVERY_STEP` of the ceiling, never above it."""

    def __init__(
        self,
        rpm: int | None,
        concurrency: int | None,
        *,
        name: str = "kluster",
        max_rate_limit_retries: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for label, value in (("rpm", rpm), ("concurrency", concurrency)):
            if value is not None and value < 1:
                raise KlusterConfigError(f"RateLimiter {label} must be >= 1 or None (unlimited), got {value!r}.")
        self.name = name
        self.rpm = rpm
        self.concurrency = concurrency
        self.max_rpm, self.max_concurrency = rpm, concurrency  # the ceilings learning never goes above
        self.max_rate_limit_retries = max_rate_limit_retries
        self._clock = clock
        self._window = _SlidingWindow(rpm, clock, RPM_WINDOW_S, RPM_MARGIN_S) if rpm else None
        self._slots = _Slots(concurrency) if concurrency else None
        self._line = _Slots(1)  # callers waiting for the RPM window, first come first served
        self._lock = threading.Lock()
        self._generation = 0  # bumped on each lowering: 429s of requests admitted before it are old news
        self._last_429 = -math.inf
        self._last_raise = -math.inf
        self.rate_limited = 0  # 429s seen (after the SDK's own retries)

    def __repr__(self) -> str:
        return f"RateLimiter(name={self.name!r}, rpm={self.rpm}, concurrency={self.concurrency})"

    def _next_wait(self) -> tuple[float, list[float] | None]:
        """(seconds to wait, None) or (0, RPM ticket — None when RPM is unlimited) to go now."""
        self._recover()
        if self._window is None:
            return 0.0, None
        return self._window.try_book()

    def _admit(self) -> tuple[float, Hold | None]:
        """(0, the admitted request's `Hold`) or (seconds to wait before asking again, None)."""
        wait, ticket = self._next_wait()
        return (wait, None) if wait else (0.0, Hold(self, ticket))

    async def _aadmit(self) -> tuple[float, Hold | None]:
        return self._admit()

    def saw_429(self, retry_after: float | None, hold: Hold | None = None, message: str = "") -> None:
        """Count a 429 that reached a limited client and learn from it (`hold`: the refused request);
        the SDK retries it after its Retry-After (no pause for other callers: their own 429s carry
        their own Retry-After)."""
        logger.info("rate limited (429) on %s despite client-side limits; retry after %s s", self.name, retry_after)
        with self._lock:
            self.rate_limited += 1
            self._last_429 = self._clock()
        if hold is not None:
            self.learn_from_429(hold, per_minute=_names_rpm(message))

    def learn_from_429(self, hold: Hold, *, per_minute: bool) -> None:
        """Lower the limit a refusal of `hold` names: RPM (`per_minute`) to what the window held when it
        was admitted, else concurrency to half of what was in flight then."""
        with self._lock:
            if hold.generation != self._generation:
                return  # admitted under a limit already lowered since
            # nothing else of ours in the window or in flight: the refusal says nothing about our limits
            if per_minute and self._window is not None and hold.booked_before:
                self._window.rpm = self.rpm = max(1, min(self._window.rpm - 1, hold.booked_before))
            elif not per_minute and self._slots is not None and self.concurrency is not None and hold.held_before:
                new = max(1, min(self.concurrency, hold.held_before) // 2)
                for _ in range(self.concurrency - new):
                    self._slots.shrink()
                self.concurrency = new
            else:
                return
            self._generation += 1
        logger.warning(
            "%s: the service refused a request under the client's limits; now rpm=%s, concurrency=%s "
            "(recovering towards %s/%s)",
            self.name,
            self.rpm,
            self.concurrency,
            self.max_rpm,
            self.max_concurrency,
        )

    def _recover(self) -> None:
        """After a whole window without a 429 (and since the last raise), raise each lowered limit a step."""
        if self.rpm == self.max_rpm and self.concurrency == self.max_concurrency:
            return  # nothing lowered (the usual case, read without the lock: asked on every request)
        with self._lock:
            now = self._clock()
            if now - max(self._last_429, self._last_raise) < RPM_WINDOW_S:
                return
            raised = False
            if self._window is not None and self.max_rpm is not None and self._window.rpm < self.max_rpm:
                self._window.rpm = self.rpm = min(self.max_rpm, self._window.rpm + _step(self.max_rpm))
                raised = True
            if self._slots is not None and self.max_concurrency is not None and self.concurrency is not None:
                grow = min(self.max_concurrency, self.concurrency + _step(self.max_concurrency)) - self.concurrency
                self.concurrency += grow
                raised = raised or grow > 0
            else:
                grow = 0
            if raised:
                self._last_raise = now
        for _ in range(grow):
            self._slots.grow()  # type: ignore[union-attr]

    def _log_wait(self, wait: float) -> None:
        if wait >= 1.0:
            logger.info("%s: waiting %.1f s for the tier's rate limit (rpm=%s)", self.name, wait, self.rpm)

    def _unpaced_hold(self) -> Hold | None:
        """A `Hold` at once for a process-local limiter without an RPM limit (it never makes a caller wait
        for more than its concurrency slot, so there is no line to join); None when it paces."""
        if self._window is None:
            self._recover()
            return Hold(self, None)
        return None

    def acquire(self) -> Hold:
        """Block until a concurrency slot and an RPM slot are free (sync callers); release the `Hold`.

        Callers queue in `_line` so that only the first in line sleeps on the window: a herd re-checking
        it after every send would cost O(waiters^2) wake-ups per window."""
        if self._slots:
            self._slots.acquire()
        try:
            if (hold := self._unpaced_hold()) is not None:
                return hold
            self._line.acquire()
            try:
                while True:
                    wait, hold = self._admit()
                    if hold is not None:
                        return hold
                    self._log_wait(wait)
                    time.sleep(wait)
            finally:
                self._line.release()
        except BaseException:
            if self._slots:
                self._slots.release()
            raise

    async def aacquire(self) -> Hold:
        """Await a concurrency slot and an RPM slot (async callers, any event loop); release the `Hold`."""
        if self._slots:
            await self._slots.aacquire()
        try:
            if (hold := self._unpaced_hold()) is not None:
                return hold
            await self._line.aacquire()
            try:
                while True:
                    wait, hold = await self._aadmit()
                    if hold is not None:
                        return hold
                    self._log_wait(wait)
                    await asyncio.sleep(wait)
            finally:
                self._line.release()
        except BaseException:
            if self._slots:
                self._slots.release()
            raise

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Block until a concurrency slot and an RPM token are available (sync callers)."""
        hold = self.acquire()
        token = _held.set((*_held.get(), self))
        try:
            yield
        finally:
            _held.reset(token)
            hold.release()

    @asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """Await a concurrency slot and an RPM token (async callers)."""
        hold = await self.aacquire()
        token = _held.set((*_held.get(), self))
        try:
            yield
        finally:
            _held.reset(token)
            hold.release()

    def call(self, fn: Callable[[], T], *, max_wait: float | None = None, budget: float | None = None) -> T:
        """Run `fn` inside a slot; on `KlusterRateLimitError` wait its Retry-After and retry.

        Only this caller waits, outside any slot: a 429 answered to one caller says nothing about
        another's request. A wait above `max_wait`, or past `budget` seconds from the start of the
        call, is not taken: the 429 is raised at once, so no Retry-After can freeze the caller."""
        deadline = None if budget is None else self._clock() + budget
        for attempt in range(self.max_rate_limit_retries + 1):
            try:
                with self.slot():
                    return fn()
            except KlusterRateLimitError as exc:
                delay = self._wait_after(exc, attempt, max_wait, deadline)
            _sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def acall(
        self, fn: Callable[[], Awaitable[T]], *, max_wait: float | None = None, budget: float | None = None
    ) -> T:
        """Async twin of `call`: `fn` is a zero-argument coroutine function."""
        deadline = None if budget is None else self._clock() + budget
        for attempt in range(self.max_rate_limit_retries + 1):
            try:
                async with self.aslot():
                    return await fn()
            except KlusterRateLimitError as exc:
                delay = self._wait_after(exc, attempt, max_wait, deadline)
            await _asleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_after(
        self, exc: KlusterRateLimitError, attempt: int, max_wait: float | None, deadline: float | None
    ) -> float:
        """Seconds to wait before retrying after `exc`; raises `exc` (or a capped-wait error) instead."""
        self.saw_429(exc.retry_after)
        if attempt == self.max_rate_limit_retries:
            raise exc
        delay = DEFAULT_RETRY_AFTER if exc.retry_after is None else max(0.0, exc.retry_after)
        limit = math.inf if max_wait is None else max_wait
        if deadline is not None:
            limit = min(limit, deadline - self._clock())
        if delay <= limit:
            logger.info("rate limited (429): this caller waits %.1f s, then retries (%s)", delay, self.name)
            return delay
        raise KlusterRateLimitError(
            f"kluster.ai asked to wait {delay:g} s before retrying ({self.name}), longer than this call may wait "
            f"({max(0.0, limit):g} s: KLUSTER_MAX_RETRY_WAIT or the call's timeout) — retry later, or raise "
            "KLUSTER_MAX_RETRY_WAIT.",
            retry_after=exc.retry_after,
            status_code=exc.status_code,
            body=exc.body,
            request_id=exc.request_id,
            code=exc.code,
            error_type=exc.error_type,
        ) from exc


def _step(ceiling: int) -> int:
    return max(1, round(ceiling * RECOVERY_STEP))


def _names_rpm(message: str) -> bool:
    """Whether a 429's text blames the per-minute limit (else: concurrency, the cheaper one to get wrong)."""
    text = message.lower()
    return "per minute" in text or "rpm" in text
