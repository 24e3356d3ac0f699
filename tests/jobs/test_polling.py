"""The adaptive poll schedule (a fixed 1 s first wait made small jobs slow): short first waits, growth without progress, waits cut
to the estimated time left when the job moves, a floor and a cap; fixed when `poll_interval` is given;
and a small batch against the emulator is seen done after well under a second asleep."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from kluster_agents.integrations._api.errors import KlusterTimeoutError
from kluster_agents.integrations._jobs import polling
from kluster_agents.integrations._jobs.batch.run import run_batch
from kluster_agents.integrations._jobs.polling import (
    POLL_CAP,
    POLL_FIRST,
    POLL_FLOOR,
    POLL_MIN_INTERVAL,
    PollSchedule,
)
from kluster_agents.integrations.emulator._control.controls import JobTiming

from .conftest import chat


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _waits(schedule: PollSchedule, clock: Clock, counts: list[tuple[int | None, int]]) -> list[float]:
    """The waits chosen after polls that saw `counts`, the clock moving by each wait."""
    waits = []
    for total, done in counts:
        wait = schedule.next_delay(total, done)
        waits.append(round(wait, 6))
        clock.now += wait
    return waits


@pytest.fixture(autouse=True)
def _no_interval_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KLUSTER_POLL_INTERVAL", raising=False)


def test_without_progress_the_waits_start_short_and_grow_to_the_cap() -> None:
    clock = Clock()
    waits = _waits(PollSchedule(None, None, "job", clock=clock), clock, [(None, 0)] * 30)
    assert waits[:4] == [POLL_FIRST, 0.15, 0.225, 0.3375]
    assert sum(waits[:5]) < 1.5  # the old schedule's first wait alone was 1 s
    assert max(waits) == waits[-1] == POLL_CAP
    assert all(b >= a for a, b in itertools.pairwise(waits))


def test_a_big_job_is_not_asked_about_sooner_than_it_can_finish() -> None:
    clock = Clock()
    assert _waits(PollSchedule(None, None, "job", clock=clock), clock, [(100_000, 0)]) == [1.0]
    clock = Clock()
    assert _waits(PollSchedule(None, None, "job", clock=clock), clock, [(10**9, 0)]) == [POLL_CAP]


def test_observed_progress_cuts_the_wait_to_the_estimated_time_left() -> None:
    clock = Clock()
    schedule = PollSchedule(None, None, "job", clock=clock)
    # nine polls see no progress (the waits grow), then the tenth sees 900 of 1000 lines done
    waits = _waits(schedule, clock, [(1000, 0)] * 9)
    assert waits[-1] > 2.5  # no progress: grown
    elapsed = sum(waits)
    wait = schedule.next_delay(1000, 900)  # 900 lines in `elapsed` s: 100 left take elapsed / 9
    assert wait == pytest.approx(elapsed / 9)
    assert wait < waits[-1] * 1.5


def test_the_wait_never_falls_below_the_floor() -> None:
    clock = Clock()
    schedule = PollSchedule(None, None, "job", clock=clock)
    waits = _waits(schedule, clock, [(1000, 0), (1000, 999), (1000, 999), (1000, 1000)])
    assert min(waits) >= POLL_FLOOR


def test_a_given_interval_is_kept_fixed() -> None:
    clock = Clock()
    schedule = PollSchedule(2.5, None, "job", clock=clock)
    assert _waits(schedule, clock, [(1000, 0), (1000, 500), (None, 0), (10**9, 0)]) == [2.5] * 4
    zero = PollSchedule(0, None, "job")
    assert [zero.next_delay() for _ in range(3)] == [POLL_MIN_INTERVAL] * 3


def test_the_setting_gives_the_interval_when_the_call_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLUSTER_POLL_INTERVAL", "4")
    clock = Clock()
    assert _waits(PollSchedule(None, None, "job", clock=clock), clock, [(None, 0)] * 3) == [4.0] * 3
    assert _waits(PollSchedule(0.5, None, "job", clock=clock), clock, [(None, 0)]) == [0.5]  # the call wins


def test_the_timeout_still_raises_and_bounds_the_last_wait() -> None:
    clock = Clock()
    schedule = PollSchedule(None, 0.3, "Batch b-1", clock=clock)
    assert _waits(schedule, clock, [(None, 0), (None, 0)]) == [0.1, 0.15]
    assert schedule.next_delay() == pytest.approx(0.05)  # only what is left of the timeout
    clock.now += 0.05
    with pytest.raises(KlusterTimeoutError, match=r"Batch b-1 did not finish within 0\.3 s"):
        schedule.next_delay()


@pytest.mark.kluster_emulator(timing=JobTiming().scaled(0.1))
def test_a_small_batch_on_the_emulator_is_seen_done_after_well_under_a_second_asleep(
    kluster_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator's observed-like timing, ten times faster: a 200-line job takes ~0.13 s. The old
    schedule slept 1 s before its second look; the adaptive one sees it done within a few short waits."""
    asleep: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        asleep.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(polling.time, "sleep", sleep)
    results = run_batch([chat(i) for i in range(200)], settings=kluster_emulator.settings, journal=False)
    assert len(results) == 200 and all(r.ok for r in results)
    assert asleep and sum(asleep) < 0.6 and asleep[0] == POLL_FIRST
