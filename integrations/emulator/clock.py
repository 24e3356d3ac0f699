"""A controllable UNIX clock, so batch and fine-tuning jobs that take hours finish in milliseconds.

Emulated time = a start time + real elapsed time x `speed` + explicit `advance()`s. Jobs compute
their state from it whenever they are read, so no background thread is needed.
"""

from __future__ import annotations

import threading
import time

# One emulated hour per 10 ms of real time: a "24h" batch window passes in a quarter of a second.
DEFAULT_SPEED = 3600 / 0.01


class EmulatedClock:
    """Thread-safe emulated time in seconds since the epoch."""

    def __init__(self, speed: float = DEFAULT_SPEED) -> None:
        self._lock = threading.Lock()
        self._speed = speed
        self._anchor_real = time.monotonic()
        self._anchor_emulated = time.time()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        with self._lock:
            return self._anchor_emulated + (time.monotonic() - self._anchor_real) * self._speed

    def _rebase(self) -> None:
        real = time.monotonic()
        self._anchor_emulated += (real - self._anchor_real) * self._speed
        self._anchor_real = real

    def advance(self, seconds: float) -> float:
        """Jump forward by `seconds` of emulated time; returns the new time."""
        with self._lock:
            self._rebase()
            self._anchor_emulated += seconds
            return self._anchor_emulated

    def set_speed(self, speed: float) -> None:
        """Emulated seconds per real second from now on (0 freezes the clock)."""
        if speed < 0:
            raise ValueError("clock speed must be >= 0")
        with self._lock:
            self._rebase()
            self._speed = speed

    def freeze(self) -> None:
        self.set_speed(0.0)

    def reset(self, speed: float = DEFAULT_SPEED) -> None:
        """Back to the real current time at `speed`."""
        with self._lock:
            self._speed = speed
            self._anchor_real = time.monotonic()
            self._anchor_emulated = time.time()
