"""Batch polling (the first wait decides how soon a small job is seen done): a 1,000-prompt `run_batch` against the emulator, with the old
schedule (first wait 1 s, x1.5 up to 30 s) and the adaptive one (`polling.PollSchedule`), interleaved
in one run: wall time and time asleep between polls (the sum of the waits the schedule chose), median
(spread) over BENCH_ROUNDS rounds.

Two job timings of the emulator: its observed-like default scaled x0.1 (a 1,000-line job takes ~0.13 s,
the slow case measured with the fixed schedule: 1.0 s of 1.29 s asleep), and the default itself (~1.25 s).
Run: uv run pytest -m benchmark tests/benchmarks/test_batch_poll.py -s   (BENCH_ROUNDS)
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import pytest

from kluster_agents.integrations._jobs import polling
from kluster_agents.integrations._jobs.batch.run import run_batch
from kluster_agents.integrations.emulator._control.controls import JobTiming

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PROMPTS = 1000
MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


class _Recorded(polling.PollSchedule):
    """The adaptive schedule, adding up the waits it chose."""

    asleep = 0.0

    def next_delay(self, total: int | None = None, done: int = 0) -> float:
        delay = super().next_delay(total, done)
        type(self).asleep += delay
        return delay


class _Old(_Recorded):
    """The earlier fixed schedule: 1 s first, x1.5 per poll up to 30 s, blind to progress."""

    def _adaptive(self, now: float, total: int | None, done: int) -> float:
        self._delay = 1.0 if self._delay is None else min(self._delay * 1.5, 30.0)
        return self._delay


def _run(emulator: Any, schedule: type[_Recorded], monkeypatch: pytest.MonkeyPatch) -> tuple[float, float]:
    monkeypatch.setattr(polling, "PollSchedule", schedule)
    schedule.asleep = 0.0
    requests = [
        {"model": MODEL, "messages": [{"role": "user", "content": f"Classify item {i}."}]} for i in range(PROMPTS)
    ]
    started = time.perf_counter()
    results = run_batch(requests, settings=emulator.settings, journal=False)
    wall = time.perf_counter() - started
    assert len(results) == PROMPTS and all(r.ok for r in results)
    return wall, schedule.asleep


def _stat(values: list[float]) -> str:
    return f"{statistics.median(values):5.2f} s (±{max(values) - min(values):.2f})"


@pytest.mark.benchmark
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    "timing", [JobTiming().scaled(0.1), JobTiming()], ids=["observed-timing-x0.1", "observed-timing"]
)
def test_adaptive_polling_sleeps_less_than_the_old_schedule(
    kluster_emulator: Any, monkeypatch: pytest.MonkeyPatch, timing: JobTiming
) -> None:
    kluster_emulator.controls.set_timing(timing)
    _run(kluster_emulator, _Recorded, monkeypatch)  # warm-up (imports, first connections), not measured
    runs: dict[str, list[tuple[float, float]]] = {"old": [], "adaptive": []}
    candidates: list[tuple[str, type[_Recorded]]] = [("old", _Old), ("adaptive", _Recorded)]
    for round_ in range(ROUNDS):
        for name, schedule in candidates if round_ % 2 == 0 else candidates[::-1]:  # alternate who goes first
            runs[name].append(_run(kluster_emulator, schedule, monkeypatch))
    print(f"\n{PROMPTS:,}-prompt run_batch on the emulator, {ROUNDS} interleaved rounds, medians (spread)")
    for name, samples in runs.items():
        walls, sleeps = [w for w, _ in samples], [s for _, s in samples]
        print(f"  {name:9s} wall {_stat(walls)}   asleep {_stat(sleeps)}")
    old_wall = statistics.median(w for w, _ in runs["old"])
    new_wall = statistics.median(w for w, _ in runs["adaptive"])
    old_sleep = statistics.median(s for _, s in runs["old"])
    new_sleep = statistics.median(s for _, s in runs["adaptive"])
    print(f"  adaptive: {new_wall / old_wall:.2f}x the old wall time, {new_sleep / old_sleep:.2f}x its time asleep")
    assert new_sleep < old_sleep and new_wall < old_wall
