"""Tier rate limits (requests per minute and concurrent requests, per model) on the emulated clock.

Off by default so ordinary tests are never throttled; a test switches it on through the controls.
The RPM window is 60 *emulated* seconds: freeze or slow the clock to test it, `advance(60)` to reopen it.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict, deque

from kluster_agents.integrations._api.catalog import TierLimits

WINDOW_SECONDS = 60.0


class RateLimiter:
    """Sliding one-minute window and an in-flight counter per model."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.enabled = False
        self.rpm: int | None = None
        self.concurrency: int | None = None
        self._starts: dict[str, deque[float]] = defaultdict(deque)
        self._in_flight: dict[str, int] = defaultdict(int)

    def configure(self, enabled: bool, *, rpm: int | None = None, concurrency: int | None = None) -> None:
        """Switch enforcement; `rpm`/`concurrency` override the tier's catalog limits."""
        with self._lock:
            self.enabled, self.rpm, self.concurrency = enabled, rpm, concurrency
            self._starts.clear()
            self._in_flight.clear()

    def acquire(self, model: str, limits: TierLimits | None, now: float) -> tuple[str, int] | None:
        """Count a request in; returns (reason, retry_after_seconds) when it must be refused."""
        rpm = self.rpm if self.rpm is not None else (limits.rpm if limits else None)
        concurrency = self.concurrency if self.concurrency is not None else (limits.concurrency if limits else None)
        with self._lock:
            starts = self._starts[model]
            while starts and starts[0] <= now - WINDOW_SECONDS:
                starts.popleft()
            if rpm is not None and len(starts) >= rpm:
                retry = max(1, math.ceil(starts[0] + WINDOW_SECONDS - now))
                return f"Rate limit reached for {model}: {rpm} requests per minute on this tier.", retry
            if concurrency is not None and self._in_flight[model] >= concurrency:
                return f"Too many concurrent requests for {model}: at most {concurrency} on this tier.", 1
            starts.append(now)
            self._in_flight[model] += 1
            return None

    def release(self, model: str) -> None:
        with self._lock:
            self._in_flight[model] = max(0, self._in_flight[model] - 1)
