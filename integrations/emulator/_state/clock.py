"""A controllable UNIX clock: wall-clock time by default, frozen or moved on by tests.

Emulated time = a start time + real elapsed time x `speed` + explicit `advance()`s. Jobs compute
their state from it whenever they are read, so no background thread is needed. The default speed
is 1: every timestamp a client sees (`created`, `created_at`, ...) stays at wall-clock time however
long the emulator runs (it used to run 360,000x fast, so `created` drifted years ahead and passed
2^31 after ~16 minutes). How fast jobs progress is `controls.JobTiming`, not this clock.
"""

from __future__ import annotations

import threading
import time

# Wall-clock time; tests that need hours to pass call `advance()` (or `set_speed`) explicitly.
DEFAULT_SPEED = 1.0


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
