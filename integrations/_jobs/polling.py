"""Polling with backoff and a rich progress display, shared by batches, adaptive inference and
fine-tuning: one place decides how often we ask and what the user sees while waiting.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import openai

from kluster_agents.integrations._api.client import translate_errors
from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterTimeoutError
from kluster_agents.integrations._api.settings import KlusterSettings, env_settings, resolve_settings

if TYPE_CHECKING:
    from openai.types import Batch

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})


# The adaptive schedule (used when no fixed `poll_interval` is given, nor KLUSTER_POLL_INTERVAL):
# the first poll goes at once; the first wait is POLL_FIRST s, or POLL_PER_LINE s per line of the job when
# longer (a big job cannot be done sooner); each wait without progress is x1.5 the last; when the job's
# counts move, the wait is cut to the estimated time left (from the observed rate); never below POLL_FLOOR
# s (at most ten GETs a second, and only while a job reports itself nearly done) nor above POLL_CAP s.
# Against the live service (jobs of minutes to hours) that is ~14 GETs in the first minute, then two a
# minute; a small job on a fast server is seen done within ~0.1-0.5 s instead of after a first 1 s sleep.
POLL_FIRST = 0.1
POLL_FLOOR = 0.1
POLL_CAP = 30.0
POLL_GROWTH = 1.5
POLL_PER_LINE = 1e-5
# A fixed interval of 0 ("as often as you can") still waits this long between polls: without it a job
# is polled hundreds of times a second, which earns 429s and millions of GETs on a long job.
POLL_MIN_INTERVAL = 0.05


def check_poll_interval(value: object, argument: str = "poll_interval") -> float | None:
    """`value` as seconds between polls, or None (the adaptive schedule); refuses what would crash or
    spin only after a job was submitted, so callers check it before sending anything."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise KlusterConfigError(
            f"{argument}={value!r} is not a poll interval: give the seconds between status polls as a finite "
            f"number >= 0 (0 polls as often as allowed, every {POLL_MIN_INTERVAL} s), or leave it and "
            "KLUSTER_POLL_INTERVAL unset for the adaptive schedule."
        )
    return float(value)


# How long past a job's `expires_at` we keep waiting for the service to mark it expired: the window is
# the service's promise, so a job still running an hour after it is stuck, not slow.
EXPIRY_GRACE = 3600.0


def check_not_overdue(batch: Batch, *, now: float | None = None) -> None:
    """Raise `KlusterTimeoutError` for an unfinished batch job long past its completion window, so a
    service that never marks it expired cannot keep a caller waiting forever."""
    expires_at = getattr(batch, "expires_at", None)
    if not expires_at or batch.status in TERMINAL_STATUSES:
        return
    if (time.time() if now is None else now) > expires_at + EXPIRY_GRACE:
        raise KlusterTimeoutError(
            f"Batch {batch.id} is still {batch.status!r} over {EXPIRY_GRACE / 3600:g} h after its completion "
            f"window ended (it should have expired); check it with `kluster-agents batch status {batch.id}` "
            "or cancel it."
        )


class PollSchedule:
    """The waits between polls of one job: fixed when `poll_interval` is given (at least
    `POLL_MIN_INTERVAL`), else adaptive (above).

    `next_delay(total, done)` takes the job's counts from the poll just made (None/0 when unknown).
    Raises `KlusterTimeoutError` once `timeout` seconds have passed (the remote job keeps running)."""

    def __init__(
        self,
        poll_interval: float | None,
        timeout: float | None,
        what: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll_interval is None:
            poll_interval = env_settings().poll_interval
        self.fixed = check_poll_interval(poll_interval)
        self.what = what
        self.timeout = timeout
        self._clock = clock
        self._deadline = None if timeout is None else clock() + timeout
        self._delay: float | None = None
        self._seen: tuple[float, int] | None = None  # (when, done) at the last poll that showed progress

    def next_delay(self, total: int | None = None, done: int = 0) -> float:
        now = self._clock()
        if self._deadline is not None and now >= self._deadline:
            raise KlusterTimeoutError(
                f"{self.what} did not finish within {self.timeout:g} s; it is still running on kluster.ai."
            )
        delay = max(POLL_MIN_INTERVAL, self.fixed) if self.fixed is not None else self._adaptive(now, total, done)
        return delay if self._deadline is None else max(0.0, min(delay, self._deadline - now))

    def _adaptive(self, now: float, total: int | None, done: int) -> float:
        if self._delay is None:
            delay = max(POLL_FIRST, (total or 0) * POLL_PER_LINE)
        else:
            delay = self._delay * POLL_GROWTH
            if self._seen is not None and total and done > self._seen[1] and now > self._seen[0]:
                rate = (done - self._seen[1]) / (now - self._seen[0])
                delay = min(delay, (total - done) / rate)  # wake around the estimated end
        if self._seen is None or done > self._seen[1]:
            self._seen = (now, done)
        self._delay = min(POLL_CAP, max(POLL_FLOOR, delay))
        return self._delay


ProgressUpdate = Callable[[int | None, int, str], None]


def progress_enabled(progress: bool | None, settings: KlusterSettings | None = None) -> bool:
    """Whether a framework batch mode shows its progress display: `progress` when given (True/False),
    else the `progress` setting (KLUSTER_PROGRESS: 'auto' — the default — shows it only when standard
    output is a terminal; 'on'/'off' force it)."""
    if progress is not None:
        return bool(progress)
    mode = resolve_settings(settings).progress
    if mode != "auto":
        return mode == "on"
    from rich.console import Console

    return Console().is_terminal


@contextmanager
def live_progress(enabled: bool, label: str) -> Iterator[ProgressUpdate]:
    """A rich progress bar (done/total, ETA) while waiting; a no-op when `enabled` is False (libraries)."""
    if not enabled:
        yield lambda total, done, note: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None, note="")

        def update(total: int | None, done: int, note: str) -> None:
            bar.update(task, total=total or None, completed=done, note=note)

        yield update


T = TypeVar("T")


def poll_until(
    fetch: Callable[[], T],
    finished: Callable[[T], bool],
    describe: Callable[[T], tuple[int | None, int, str]],
    *,
    label: str,
    poll_interval: float | None,
    timeout: float | None,
    progress: bool,
) -> T:
    """Call `fetch` until `finished(value)`, waiting as `PollSchedule` says between calls and showing
    `describe(value)` = (total, done, note)."""
    last: str | None = None
    schedule = PollSchedule(poll_interval, timeout, label)
    with live_progress(progress, label) as update:
        while True:
            value = fetch()
            total, done, status = describe(value)
            if status != last:
                logger.info("%s: %s -> %s (%s of %s done)", label, last or "submitted", status, done, total or "?")
                last = status
            update(total, done, status)
            if finished(value):
                return value
            time.sleep(schedule.next_delay(total, done))


def wait_for_batch(
    client: openai.OpenAI,
    batch_id: str,
    *,
    poll_interval: float | None = None,
    timeout: float | None = None,
    progress: bool = False,
) -> Batch:
    """Poll one batch job (by id) until it is finished; returns the final batch object."""

    def fetch() -> Batch:
        with translate_errors():
            batch = client.batches.retrieve(batch_id)
        check_not_overdue(batch)
        return batch

    def describe(batch: Batch) -> tuple[int | None, int, str]:
        counts = batch.request_counts
        return (counts.total, counts.completed + counts.failed, batch.status) if counts else (None, 0, batch.status)

    return poll_until(
        fetch,
        lambda b: b.status in TERMINAL_STATUSES,
        describe,
        label=f"Batch {batch_id}",
        poll_interval=poll_interval,
        timeout=timeout,
        progress=progress,
    )
