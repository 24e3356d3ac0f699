"""`BatchHandle`: the submitted jobs of one run, polled, waited for, cancelled, and their result files
downloaded (resuming after a reset) into the run's local files, in input order."""

from __future__ import annotations

import asyncio
import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import openai

from kluster_agents.integrations._api import tracing
from kluster_agents.integrations._api.client import translate_errors
from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterConnectionError
from kluster_agents.integrations._jobs.batch.decode import (
    BatchResult,
    KlusterBatchWarning,
    custom_id_of,
    validation_errors,
)
from kluster_agents.integrations._jobs.batch.results import SPOOL_ADVICE, BatchResults, Spool, chunk_results
from kluster_agents.integrations._jobs.journal import JOURNAL_ADVICE, Journal
from kluster_agents.integrations._jobs.jsonl import (
    Chunk,
    LineIndex,
    ResultLines,
    disk_errors,
    iter_remote_line_bytes,
    parse_json_line,
)
from kluster_agents.integrations._jobs.polling import (
    TERMINAL_STATUSES,
    PollSchedule,
    check_not_overdue,
    live_progress,
    poll_until,
)

if TYPE_CHECKING:
    from openai.types import Batch


@dataclass(frozen=True)
class BatchStatus:
    """The jobs of one run, summed: `status` is their common status, or e.g. 'completed+expired'."""

    status: str
    total: int
    completed: int
    failed: int
    batches: tuple[Batch, ...]

    @property
    def done(self) -> bool:
        return all(b.status in TERMINAL_STATUSES for b in self.batches)

    @property
    def batch_ids(self) -> list[str]:
        return [b.id for b in self.batches]


_DOWNLOAD_ATTEMPTS = 4


@dataclass
class Job:
    chunk: Chunk
    batch: Batch
    collected: bool = False
    reattached: bool = False  # found through the journal, not created by this run
    duplicates: dict[str, list[bytes]] = field(default_factory=dict)  # custom_id -> its earlier answer lines

    @property
    def done(self) -> bool:
        return self.batch.status in TERMINAL_STATUSES

    def finished(self, _status: BatchStatus) -> bool:
        """`done`, as the `finished` test of `BatchHandle._wait_until`."""
        return self.done


class BatchHandle:
    """The submitted jobs of one run: poll, wait, cancel, and read results in input order.

    Use as a context manager (or call `close()`) to delete the local work files.
    """

    def __init__(
        self,
        client: openai.OpenAI,
        jobs: list[Job],
        index: LineIndex,
        workdir: Path,
        *,
        journal: Journal | None = None,
        run_key: str | None = None,
        poll_interval: float | None = None,
    ) -> None:
        self._client = client
        self._jobs = jobs
        self._spool: Spool | None = Spool(index, workdir)
        self._journal = journal
        self._run_key = run_key
        self.poll_interval = poll_interval
        self.workdir = workdir
        self._finalizer = weakref.finalize(self, close_journal, journal)

    @property
    def _index(self) -> LineIndex:
        if self._spool is None:
            raise KlusterConfigError("This BatchHandle is closed; read its results before closing it.")
        return self._spool.index

    @property
    def batch_ids(self) -> list[str]:
        return [job.batch.id for job in self._jobs]

    @property
    def reattached_ids(self) -> list[str]:
        """Jobs an earlier run of the same input had already submitted (re-attached, not re-created)."""
        return [job.batch.id for job in self._jobs if job.reattached]

    def __len__(self) -> int:
        return sum(job.chunk.lines for job in self._jobs)

    def __repr__(self) -> str:
        return f"BatchHandle(batch_ids={self.batch_ids!r}, requests={len(self)})"

    def __enter__(self) -> BatchHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Delete the local work files (the remote jobs are not affected). Results already returned by
        `results()` keep the files they read from until they are closed or garbage-collected."""
        self._finalizer()
        spool, self._spool = self._spool, None
        if spool is not None:
            spool.release()

    def _snapshot(self) -> BatchStatus:
        batches = tuple(job.batch for job in self._jobs)
        counts = [b.request_counts for b in batches]
        return BatchStatus(
            status="+".join(sorted({b.status for b in batches})),
            total=len(self),
            completed=sum(c.completed for c in counts if c),
            failed=sum(c.failed for c in counts if c),
            batches=batches,
        )

    def status(self) -> BatchStatus:
        """Refresh every unfinished job (one GET each) and return the summed status."""
        with translate_errors():
            for job in self._jobs:
                if not job.done:
                    with self._span("kluster.batch.poll", job) as traced:
                        job.batch = self._client.batches.retrieve(job.batch.id)
                        traced.set(tracing.batch_attributes(job.batch))
                    check_not_overdue(job.batch)
        return self._snapshot()

    def cancel(self) -> BatchStatus:
        """Ask kluster.ai to cancel every unfinished job; lines not run end up `cancelled`."""
        with translate_errors():
            for job in self._jobs:
                if not job.done:
                    # A JSON body: the live service answers the SDK's bodiless cancel with HTTP 500.
                    job.batch = self._client.batches.cancel(job.batch.id, extra_body={})
        return self._snapshot()

    def _span(self, name: str, job: Job) -> AbstractContextManager[tracing.Span]:
        """A span about one job, carrying its run key and chunk and linked to the span that submitted it."""
        attributes = {"kluster.batch.run_key": self._run_key, "kluster.batch.chunk": job.chunk.number}
        return tracing.span(
            name, {**attributes, **tracing.batch_attributes(job.batch)}, linked=tracing.job_link(job.batch)
        )

    @staticmethod
    def _describe(status: BatchStatus) -> tuple[int | None, int, str]:
        return (
            status.total,
            status.completed + status.failed,
            status.status + (f", {status.failed} failed" if status.failed else ""),
        )

    @property
    def _label(self) -> str:
        return f"Batch {', '.join(self.batch_ids)}"

    def wait(self, *, timeout: float | None = None, progress: bool = False) -> BatchStatus:
        """Poll (the adaptive schedule of `polling.PollSchedule`, or `poll_interval`) until every job is
        finished; a timeout leaves the jobs running."""
        return self._wait_until(lambda status: status.done, timeout=timeout, progress=progress)

    def _wait_until(
        self, finished: Callable[[BatchStatus], bool], *, timeout: float | None, progress: bool
    ) -> BatchStatus:
        return poll_until(
            self.status,
            finished,
            self._describe,
            label=self._label,
            poll_interval=self.poll_interval,
            timeout=timeout,
            progress=progress,
        )

    async def wait_async(self, *, timeout: float | None = None, progress: bool = False) -> BatchStatus:
        """`wait()` for asyncio: polls in a worker thread, sleeps on the event loop."""
        schedule = PollSchedule(self.poll_interval, timeout, self._label)
        with live_progress(progress, self._label) as update:
            while True:
                status = await asyncio.to_thread(self.status)
                update(*self._describe(status))
                if status.done:
                    return status
                await asyncio.sleep(schedule.next_delay(status.total, status.completed + status.failed))

    def iter_results(self, *, timeout: float | None = None, progress: bool = False) -> Iterator[BatchResult]:
        """Yield one `BatchResult` per input, in input order, job by job as each finishes.

        The streaming path: constant memory however large the run (prefer it for big batches)."""
        for job in self._jobs:
            if not job.done:
                self._wait_until(job.finished, timeout=timeout, progress=progress)
            self._collect(job)
            assert self._spool is not None
            stored = self._spool.results[job.chunk.number]
            yield from chunk_results(self._index, stored, job.chunk.first_index, job.batch, job.duplicates)
        self._finish_journal()

    def _finish_journal(self) -> None:
        if self._journal is not None and self._run_key is not None:
            with disk_errors(self._journal.path, "the batch journal", JOURNAL_ADVICE):
                self._journal.finish(self._run_key)

    def results(self, *, timeout: float | None = None, progress: bool = False) -> BatchResults:
        """Every input's result, in input order (waits for the jobs first), as a `BatchResults`
        sequence that reads each result back from the local result files when it is accessed: a
        million results cost disk, not memory. It stays readable after this handle is closed."""
        for job in self._jobs:
            if not job.done:
                self._wait_until(job.finished, timeout=timeout, progress=progress)
            self._collect(job)
        self._finish_journal()
        assert self._spool is not None  # `_index` above raised if closed
        return BatchResults(self._spool, [(job.chunk, job.batch, job.duplicates) for job in self._jobs])

    async def aresults(self, *, timeout: float | None = None, progress: bool = False) -> BatchResults:
        """`results()` for asyncio."""
        await self.wait_async(timeout=timeout, progress=progress)
        return await asyncio.to_thread(self.results)

    def _collect(self, job: Job) -> None:
        """Download a finished job's output and error files into its local result file (once); only
        each line's position is kept in memory, by input line."""
        if job.collected:
            return
        batch, chunk = job.batch, job.chunk
        positions = self._index.positions(chunk.first_index, chunk.first_index + chunk.lines)  # raises if closed
        assert self._spool is not None
        with (
            self._span("kluster.batch.results", job),
            disk_errors(self.workdir, f"the results of batch {batch.id}", SPOOL_ADVICE),
        ):
            self._collect_into(job, positions, self._spool.start(chunk))
        job.collected = True

    def _collect_into(self, job: Job, positions: Mapping[str, int], stored: ResultLines) -> None:
        batch, chunk = job.batch, job.chunk
        strangers: set[str] = set()  # ids we never sent: ignored, but a repeat is still reported
        with translate_errors():
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                for number, line in self._download(file_id, batch.id):
                    if not line.strip():
                        continue
                    custom_id = custom_id_of(line)
                    if custom_id is None:  # an unusual line: the general parser decides
                        try:
                            custom_id = str(parse_json_line(line).get("custom_id"))
                        except ValueError as exc:  # its input then has no result and is reported as such
                            warnings.warn(
                                f"Batch {batch.id}: skipped line {number} of result file {file_id}: {exc}.",
                                KlusterBatchWarning,
                                stacklevel=2,
                            )
                            continue
                    position = positions.get(custom_id)
                    if position is None:
                        repeated = custom_id in strangers
                        strangers.add(custom_id)
                    else:
                        earlier = stored.get_written(position)
                        repeated = earlier is not None
                        if earlier is not None:
                            job.duplicates.setdefault(custom_id, []).append(earlier)
                        stored.add(position, line)
                    if repeated:
                        warnings.warn(
                            f"Batch {batch.id}: custom_id {custom_id!r} appears more than once in its result files "
                            f"(line {number} of {file_id}); two answers for one request are ambiguous, so that "
                            "line is reported as failed with every answer on its error (`error.answers`).",
                            KlusterBatchWarning,
                            stacklevel=2,
                        )
        for custom_id, _, text in validation_errors(batch, chunk, self._index):
            stored.add(positions[custom_id], text.encode())
        stored.finish()

    def _download(self, file_id: str, batch_id: str) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of a remote result file; a connection reset mid-download resumes after
        the last line received (the download restarts and skips what was already read)."""
        received = 0
        for attempt in range(_DOWNLOAD_ATTEMPTS):
            try:
                for number, raw in enumerate(iter_remote_line_bytes(self._client, file_id), start=1):
                    if number <= received:
                        continue
                    received = number
                    yield number, raw
                return
            except (openai.APIConnectionError, openai.InternalServerError, httpx.TransportError) as exc:
                if attempt == _DOWNLOAD_ATTEMPTS - 1:
                    raise KlusterConnectionError(
                        f"Downloading result file {file_id} of batch {batch_id} failed {_DOWNLOAD_ATTEMPTS} times "
                        f"({type(exc).__name__}) after {received} lines; re-run to resume (the jobs are done, "
                        "nothing is resubmitted)."
                    ) from exc
                time.sleep(0.2 * 2**attempt)


def close_journal(journal: Journal | None) -> None:
    if journal is not None:
        journal.close()
