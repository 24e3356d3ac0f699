"""Polling with backoff and a rich progress display, shared by batches, adaptive inference and
fine-tuning: one place decides how often we ask and what the user sees while waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import openai

from kluster_agents.integrations.api.client import translate_errors
from kluster_agents.integrations.api.errors import (
    KlusterTimeoutError,
)
from kluster_agents.integrations.api.settings import KlusterSettings, resolve_settings

if TYPE_CHECKING:
    from openai.types import Batch

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})


def poll_delays(poll_interval: float | None, timeout: float | None, what: str) -> Iterator[float]:
    """Delays between polls: fixed when `poll_interval` is given, else 1 s growing x1.5 up to 30 s.
    Raises `KlusterTimeoutError` once `timeout` seconds have passed (the remote job keeps running)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 1.0 if poll_interval is None else poll_interval
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            raise KlusterTimeoutError(f"{what} did not finish within {timeout:g} s; it is still running on kluster.ai.")
        yield delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic()))
        if poll_interval is None:
            delay = min(delay * 1.5, 30.0)


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
    """Call `fetch` with backoff until `finished(value)`, showing `describe(value)` = (total, done, note)."""
    last: str | None = None
    with live_progress(progress, label) as update:
        for delay in poll_delays(poll_interval, timeout, label):
            value = fetch()
            total, done, status = describe(value)
            if status != last:
                logger.info("%s: %s -> %s (%s of %s done)", label, last or "submitted", status, done, total or "?")
                last = status
            update(total, done, status)
            if finished(value):
                return value
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


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
            return client.batches.retrieve(batch_id)

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
