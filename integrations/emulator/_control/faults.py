"""Per-test fault injection: latency, 5xx answers, dropped connections, connections reset
mid-response, malformed JSON answers, truncated streams and malformed batch output lines — the failures client retry and resume logic must survive.

A fault applies to requests whose path starts with `path` (all when None), for `times` requests
or to a random `fraction` of them (seeded, so a test run is reproducible).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["latency", "status", "drop", "truncate", "malformed", "reset"]


@dataclass
class Fault:
    """One injected failure; `times=None` means every matching request."""

    kind: FaultKind
    path: str | None = None
    times: int | None = 1
    fraction: float | None = None
    status: int = 503
    seconds: float = 0.0
    after_chunks: int = 1

    def matches(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path) or path.startswith("/v1" + self.path)


class FaultInjector:
    """The list of active faults; `take()` is called by the server for every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rng = random.Random(0)
        self._malformed_batch_lines = 0

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._rng = random.Random(0)
            self._malformed_batch_lines = 0

    def take(self, kind: FaultKind, path: str) -> Fault | None:
        """The first active fault of `kind` for `path` that fires now (consuming one of its `times`)."""
        if not self._faults:  # hot path: no lock when nothing is injected
            return None
        with self._lock:
            for fault in self._faults:
                if fault.kind != kind or not fault.matches(path):
                    continue
                if fault.fraction is not None and self._rng.random() >= fault.fraction:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def corrupt_batch_output(self, lines: int) -> None:
        """Make the next batch output files carry `lines` malformed JSON lines in total."""
        with self._lock:
            self._malformed_batch_lines += lines

    def take_malformed_lines(self) -> int:
        with self._lock:
            count, self._malformed_batch_lines = self._malformed_batch_lines, 0
            return count
