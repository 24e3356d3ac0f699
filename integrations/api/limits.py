"""Client-side rate limiting for real-time calls: requests per minute and concurrency per
model and tier (from the catalog), with the server's `Retry-After` honoured on a 429.

Why client-side: kluster answers 429 once a key goes over its tier's RPM or concurrency;
pacing requests here turns "N concurrent checks" into a steady stream that never trips it.

One `RateLimiter` per (base URL, tier, model) is shared process-wide (`limiter_for`):
- RPM is a sliding window (never more than `rpm` requests in any minute, stamped at their
  answer, see `_SlidingWindow`) shared by every thread and event loop, so sync and async
  callers draw from one budget;
- concurrency is a semaphore: one `threading.BoundedSemaphore` for sync callers and one
  `asyncio.Semaphore` per event loop (asyncio primitives cannot cross loops);
- a 429 pauses every caller of the limiter until `Retry-After` has passed, then retries
  (`max_rate_limit_retries` times) before the `KlusterRateLimitError` is raised.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

from kluster_agents.integrations.api.catalog import get_model
from kluster_agents.integrations.api.errors import KlusterConfigError, KlusterRateLimitError
from kluster_agents.integrations.api.settings import KlusterSettings, resolve_settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_RETRY_AFTER = 1.0  # seconds to back off when a 429 carries no Retry-After header
# The RPM window, with one second of margin: the server counts arrivals, we count sends, and
# network jitter must not push two sends 60 s apart into the same server-side minute.
RPM_WINDOW_S = 61.0
IN_FLIGHT_POLL_S = 0.05  # re-check interval while the request that frees the next RPM slot is in flight


class _SlidingWindow:
    """At most `rpm` requests in any window of `window_s` seconds, as the service counts them.

    The service counts a request when it processes it, somewhere between our send and its
    answer (queueing can take seconds under load). So each request is stamped with the time its
    answer arrived — the latest moment it can have been counted — and a new request may start
    only once the `rpm`-th most recent stamp is a full window old. (A token bucket refilled
    continuously would let up to 2x rpm into one window.)"""

    def __init__(self, rpm: int, clock: Callable[[], float], window_s: float) -> None:
        self.rpm = rpm
        self.window_s = window_s
        self._clock = clock
        self._stamps: deque[list[float]] = deque(maxlen=rpm)  # [answer time]; +inf while in flight
        self._lock = threading.Lock()

    def try_book(self) -> tuple[float, list[float] | None]:
        """(0, ticket) when a request may start now; else (seconds to wait before asking again, None)."""
        with self._lock:
            now = self._clock()
            if len(self._stamps) == self.rpm:
                oldest = self._stamps[0][0]
                if oldest == math.inf:
                    return IN_FLIGHT_POLL_S, None
                if oldest + self.window_s > now:
                    return oldest + self.window_s - now, None
            ticket = [math.inf]
            self._stamps.append(ticket)
            return 0.0, ticket

    def done(self, ticket: list[float]) -> None:
        ticket[0] = self._clock()


class RateLimiter:
    """RPM + concurrency gate for one model on one tier; `None` means unlimited."""

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
        self.max_rate_limit_retries = max_rate_limit_retries
        self._clock = clock
        self._window = _SlidingWindow(rpm, clock, RPM_WINDOW_S) if rpm else None
        self._sync_slots = threading.BoundedSemaphore(concurrency) if concurrency else None
        self._async_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.rate_limited = 0  # 429s seen (after the SDK's own retries)

    def __repr__(self) -> str:
        return f"RateLimiter(name={self.name!r}, rpm={self.rpm}, concurrency={self.concurrency})"

    def _paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    def _next_wait(self) -> tuple[float, list[float] | None]:
        """(seconds to wait, None) or (0, RPM ticket — None when RPM is unlimited) to go now."""
        pause = self._paused_for()
        if pause:
            return pause, None
        if self._window is None:
            return 0.0, None
        return self._window.try_book()

    def pause(self, seconds: float | None) -> None:
        """Hold every caller back for `seconds` (a 429's Retry-After)."""
        delay = DEFAULT_RETRY_AFTER if seconds is None else max(0.0, seconds)
        logger.info("rate limited (429): every caller waits %.1f s, then retries", delay)
        with self._lock:
            self.rate_limited += 1
            self._paused_until = max(self._paused_until, self._clock() + delay)

    def _async_semaphore(self) -> asyncio.Semaphore | None:
        if not self.concurrency:
            return None
        loop = asyncio.get_running_loop()
        with self._lock:
            sem = self._async_slots.get(loop)
            if sem is None:
                sem = self._async_slots[loop] = asyncio.Semaphore(self.concurrency)
            return sem

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Block until a concurrency slot and an RPM token are available (sync callers)."""
        if self._sync_slots:
            self._sync_slots.acquire()
        ticket = None
        try:
            while True:
                wait, ticket = self._next_wait()
                if not wait:
                    break
                time.sleep(wait)
            yield
        finally:
            if ticket is not None and self._window is not None:  # a ticket comes only from a window
                self._window.done(ticket)
            if self._sync_slots:
                self._sync_slots.release()

    @asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """Await a concurrency slot and an RPM token (async callers)."""
        sem = self._async_semaphore()
        if sem:
            await sem.acquire()
        ticket = None
        try:
            while True:
                wait, ticket = self._next_wait()
                if not wait:
                    break
                await asyncio.sleep(wait)
            yield
        finally:
            if ticket is not None and self._window is not None:  # a ticket comes only from a window
                self._window.done(ticket)
            if sem:
                sem.release()

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` inside a slot; on `KlusterRateLimitError` wait for Retry-After and retry."""
        for attempt in range(self.max_rate_limit_retries + 1):
            try:
                with self.slot():
                    return fn()
            except KlusterRateLimitError as exc:
                self.pause(exc.retry_after)
                if attempt == self.max_rate_limit_retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def acall(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Async twin of `call`: `fn` is a zero-argument coroutine function."""
        for attempt in range(self.max_rate_limit_retries + 1):
            try:
                async with self.aslot():
                    return await fn()
            except KlusterRateLimitError as exc:
                self.pause(exc.retry_after)
                if attempt == self.max_rate_limit_retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


_limiters: dict[tuple[str, str, str], RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(model: str, settings: KlusterSettings | None = None) -> RateLimiter:
    """The process-wide limiter of `model` on the settings' tier (catalog RPM/concurrency;
    unlimited when the catalog does not know the model's limits)."""
    settings = resolve_settings(settings)
    info = get_model(model)
    key = (settings.base_url, settings.tier.value, info.id)
    with _registry_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limits = info.limits_for(settings.tier)
            limiter = RateLimiter(
                limits.rpm if limits else None,
                limits.concurrency if limits else None,
                name=f"{info.id}@{settings.tier.value}",
            )
            _limiters[key] = limiter
        return limiter
