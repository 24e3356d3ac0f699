"""Batch API engine: many chat requests in, one result per request out, in input order.

Requests are validated through `compat.prepare_chat_request` and streamed to JSONL chunk files
(constant memory), split by the tier's max batch requests and the 100 MB file limit, uploaded,
submitted, polled with backoff, and joined back by `custom_id` from the output and error files.
Every input is accounted for: succeeded, failed (with the server's error), cancelled or expired.
A local journal (`journal.py`) makes a crashed run re-attach instead of submitting twice.
"""

from __future__ import annotations

import asyncio
import bisect
import operator
import shutil
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx
import openai
from pydantic import BaseModel

from kluster_agents.integrations._api.client import make_client, translate_errors
from kluster_agents.integrations._api.errors import (
    KlusterConfigError,
    KlusterConnectionError,
    KlusterInvalidRequestError,
)
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._jobs.batch_input import PreparedInput, check_models, prepare_requests
from kluster_agents.integrations._jobs.batch_results import (
    BatchResult,
    KlusterBatchWarning,
    ambiguous_result,
    custom_id_of,
    result_from_line,
    validation_errors,
)
from kluster_agents.integrations._jobs.journal import Journal, new_workdir
from kluster_agents.integrations._jobs.jsonl import (
    BATCH_ENDPOINT,
    MAX_FILE_BYTES,
    Chunk,
    LineIndex,
    ResultLines,
    disk_errors,
    iter_remote_line_bytes,
    parse_json_line,
    upload_file,
)
from kluster_agents.integrations._jobs.polling import (
    TERMINAL_STATUSES,
    PollSchedule,
    check_not_overdue,
    check_poll_interval,
    live_progress,
    poll_until,
)

if TYPE_CHECKING:
    from openai.types import Batch

COMPLETION_WINDOWS = ("1h", "3h", "6h", "12h", "24h")
JournalOption = str | Path | Literal[False] | None


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


def check_completion_window(window: str) -> str:
    if window not in COMPLETION_WINDOWS:
        raise KlusterConfigError(
            f"completion_window must be one of {', '.join(COMPLETION_WINDOWS)} (kluster.ai's windows), got {window!r}."
        )
    return window


RUN_METADATA_KEY = "kluster_agents_run"
CHUNK_METADATA_KEY = "kluster_agents_chunk"
_CREATE_ATTEMPTS = 3
_DOWNLOAD_ATTEMPTS = 4


def _find_batch_for_file(
    client: openai.OpenAI, file_id: str | None, *, run_key: str | None = None, chunk: int | None = None
) -> Batch | None:
    """A batch already created from `file_id`, or tagged with this run's key and chunk in its metadata
    (a crash or a lost response between create and journal write). Searches every page of the list."""
    for batch in client.batches.list(limit=100):  # the SDK's cursor follows `has_more` across all pages
        if file_id and batch.input_file_id == file_id:
            return batch
        meta = batch.metadata or {}
        if run_key and meta.get(RUN_METADATA_KEY) == run_key[:64] and meta.get(CHUNK_METADATA_KEY) == str(chunk):
            return batch
    return None


def _file_exists(client: openai.OpenAI, file_id: str) -> bool:
    try:
        client.files.retrieve(file_id)
    except openai.NotFoundError:
        return False
    return True


def _create_batch(
    client: openai.OpenAI,
    file_id: str,
    completion_window: str,
    metadata: dict[str, str],
    *,
    run_key: str,
    chunk: int,
) -> Batch:
    """Create a batch exactly once: the create call itself is never retried by the transport (a lost
    response would otherwise make a second, double-billed job); after a failure that may have reached
    the server we look for the job (by input file id, over all pages) before trying again."""
    creator = client.with_options(max_retries=0)
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return creator.batches.create(
                input_file_id=file_id,
                endpoint=BATCH_ENDPOINT,
                completion_window=completion_window,  # type: ignore[arg-type]
                metadata=metadata,
            )
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as exc:
            found = _find_batch_for_file(client, file_id, run_key=run_key, chunk=chunk)
            if found is not None:
                return found
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            retry_after = getattr(exc, "retry_after", None)
            time.sleep(min(float(retry_after) if retry_after else 0.5 * 2**attempt, 10.0))
        except openai.APIStatusError as exc:
            if exc.status_code < 500:
                raise
            found = _find_batch_for_file(client, file_id, run_key=run_key, chunk=chunk)
            if found is not None:
                return found
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


# --- the handle -----------------------------------------------------------------------------------------


@dataclass
class _Job:
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


SPOOL_ADVICE = (
    "Free space there, or set TMPDIR to a disk with room (batch work files are temporary); the jobs already "
    "submitted keep running, and re-running the same input re-attaches to them."
)
JOURNAL_ADVICE = (
    "Free space there, or point journal= (KLUSTER_JOURNAL_PATH) at a disk with room, or pass journal=False; "
    "re-running the same input re-attaches to any job already submitted."
)


class BatchHandle:
    """The submitted jobs of one run: poll, wait, cancel, and read results in input order.

    Use as a context manager (or call `close()`) to delete the local work files.
    """

    def __init__(
        self,
        client: openai.OpenAI,
        jobs: list[_Job],
        index: LineIndex,
        workdir: Path,
        *,
        journal: Journal | None = None,
        run_key: str | None = None,
        poll_interval: float | None = None,
    ) -> None:
        self._client = client
        self._jobs = jobs
        self._spool: _Spool | None = _Spool(index, workdir)
        self._journal = journal
        self._run_key = run_key
        self.poll_interval = poll_interval
        self.workdir = workdir
        self._finalizer = weakref.finalize(self, _close_journal, journal)

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
                    job.batch = self._client.batches.retrieve(job.batch.id)
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
            yield from _chunk_results(self._index, stored, job.chunk.first_index, job.batch, job.duplicates)
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

    def _collect(self, job: _Job) -> None:
        """Download a finished job's output and error files into its local result file (once); only
        each line's position is kept in memory, by input line."""
        if job.collected:
            return
        batch, chunk = job.batch, job.chunk
        positions = self._index.positions(chunk.first_index, chunk.first_index + chunk.lines)  # raises if closed
        assert self._spool is not None
        with disk_errors(self.workdir, f"the results of batch {batch.id}", SPOOL_ADVICE):
            self._collect_into(job, positions, self._spool.start(chunk))
        job.collected = True

    def _collect_into(self, job: _Job, positions: Mapping[str, int], stored: ResultLines) -> None:
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


def _chunk_results(
    index: LineIndex, stored: ResultLines, first: int, batch: Batch, duplicates: Mapping[str, list[bytes]]
) -> Iterator[BatchResult]:
    custom_ids = index.custom_ids(first, first + stored.lines)
    for idx, (custom_id, payload) in enumerate(zip(custom_ids, stored, strict=True), start=first):
        earlier = duplicates.get(custom_id) if duplicates else None
        if earlier is not None and payload is not None:
            yield ambiguous_result(idx, custom_id, [*earlier, payload], batch)
        else:
            yield result_from_line(idx, custom_id, payload, batch)


def _cleanup(index: LineIndex, workdir: Path, journal: Journal | None) -> None:
    index.close()
    _close_journal(journal)
    shutil.rmtree(workdir, ignore_errors=True)


def _close_journal(journal: Journal | None) -> None:
    if journal is not None:
        journal.close()


def _remove_spool(index: LineIndex, results: dict[int, ResultLines], workdir: Path) -> None:
    index.close()
    for stored in results.values():
        stored.close()
    shutil.rmtree(workdir, ignore_errors=True)


class _Spool:
    """A run's local files (line index, chunk files, result files), shared by its handle and the
    `BatchResults` read from it; deleted once every holder has released it (or at garbage collection)."""

    def __init__(self, index: LineIndex, workdir: Path) -> None:
        self.index = index
        self.workdir = workdir
        self.results: dict[int, ResultLines] = {}  # by chunk number
        self._holders = 1
        self._finalizer = weakref.finalize(self, _remove_spool, index, self.results, workdir)

    def start(self, chunk: Chunk) -> ResultLines:
        """A new, empty result file for `chunk` (replacing one left by an interrupted download)."""
        previous = self.results.pop(chunk.number, None)
        if previous is not None:
            previous.close()
        stored = ResultLines(self.workdir / f"batch-results-{chunk.number}.jsonl", chunk.lines)
        self.results[chunk.number] = stored
        return stored

    def acquire(self) -> _Spool:
        self._holders += 1
        return self

    def release(self) -> None:
        self._holders -= 1
        if self._holders <= 0:
            self._finalizer()

    @property
    def alive(self) -> bool:
        return self._finalizer.alive


class BatchResults(Sequence[BatchResult]):
    """One `BatchResult` per input, in input order, read back from the run's local result files when
    accessed (`len`, indexing, slicing, iteration): a million results cost disk and 12 MB of line
    positions, and no garbage for the collector. Each access builds a fresh `BatchResult`; keep the ones you need.

    Use as a context manager (or call `close()`) to delete the local files at once; otherwise they
    go when this object is garbage-collected. For constant memory end to end, prefer `iter_results`.
    """

    def __init__(self, spool: _Spool, jobs: Sequence[tuple[Chunk, Batch, Mapping[str, list[bytes]]]]) -> None:
        self._spool: _Spool | None = spool.acquire()
        self._jobs = list(jobs)
        self._starts = [chunk.first_index for chunk, _, _ in self._jobs]
        self._len = sum(chunk.lines for chunk, _, _ in self._jobs)
        self._finalizer = weakref.finalize(self, spool.release)

    def _index(self) -> LineIndex:
        if self._spool is None:
            raise KlusterConfigError("These BatchResults are closed; read them before closing.")
        return self._spool.index

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, item: int) -> BatchResult: ...
    @overload
    def __getitem__(self, item: slice) -> list[BatchResult]: ...
    def __getitem__(self, item: int | slice) -> BatchResult | list[BatchResult]:
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(self._len))]
        i = operator.index(item)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"batch result index {item} out of range ({self._len} results)")
        chunk, batch, duplicates = self._jobs[bisect.bisect_right(self._starts, i) - 1]
        index = self._index()
        custom_id = next(index.custom_ids(i, i + 1))
        assert self._spool is not None
        payload = self._spool.results[chunk.number].get(i - chunk.first_index)
        earlier = duplicates.get(custom_id)
        if earlier is not None and payload is not None:
            return ambiguous_result(i, custom_id, [*earlier, payload], batch)
        return result_from_line(i, custom_id, payload, batch)

    def __iter__(self) -> Iterator[BatchResult]:
        index = self._index()
        assert self._spool is not None
        spool = self._spool
        for chunk, batch, duplicates in self._jobs:
            yield from _chunk_results(index, spool.results[chunk.number], chunk.first_index, batch, duplicates)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        ok = "closed" if self._spool is None else f"{self._len} results"
        return f"BatchResults({ok}, batch_ids={[batch.id for _, batch, _ in self._jobs]!r})"

    def close(self) -> None:
        """Release the local files these results are read from (they are deleted once the handle is closed too)."""
        if self._spool is not None:
            self._spool = None
            self._finalizer()

    def __enter__(self) -> BatchResults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- public entry points --------------------------------------------------------------------------------


def check_metadata(metadata: Mapping[str, Any] | None) -> None:
    """Batch metadata is a map of strings (OpenAI's Batch API: up to 16 pairs, keys <= 64 and values
    <= 512 characters); refuse anything else before any upload."""
    if metadata is None:
        return
    if not isinstance(metadata, Mapping):
        raise KlusterInvalidRequestError(
            "metadata must be a dict of strings, e.g. {'run': 'nightly'}.", parameter="metadata"
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise KlusterInvalidRequestError(
                f"metadata[{key!r}] is {type(value).__name__}; batch metadata values must be strings — "
                f"use str(...) (e.g. {{{key!r}: {str(value)!r}}}).",
                parameter="metadata",
            )


def submit_batch(
    requests: Iterable[Mapping[str, Any] | BaseModel],
    *,
    settings: KlusterSettings | None = None,
    client: openai.OpenAI | None = None,
    completion_window: str = "24h",
    metadata: Mapping[str, str] | None = None,
    journal: JournalOption = None,
    strict_models: bool = True,
    max_requests_per_job: int | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    poll_interval: float | None = None,
    compat_applied: bool = False,
) -> BatchHandle:
    """Validate, write, upload and submit `requests`; returns at once with a `BatchHandle`.

    Each request is an OpenAI-style chat body (optional `custom_id`; `auto-<index>` otherwise),
    a pydantic model of one, or a batch line `{custom_id, method, url, body}`. Bad input raises a
    `KlusterError` naming the request (index and custom_id) before anything is uploaded.
    `strict_models` checks names the catalog does not know against GET /v1/models.
    `journal` is a path, None (default `~/.cache/kluster-agents/`, or `KLUSTER_JOURNAL_PATH`), or False;
    with a journal, the same input re-attaches to the jobs of an earlier run, finished ones included
    (never paying twice); `journal=False` submits afresh.
    `compat_applied=True` (the micro-batcher) says every body already went through
    `prepare_chat_request`, so it is written as is: compat runs once per request.
    """
    settings = resolve_settings(settings)
    check_completion_window(completion_window)
    check_metadata(metadata)
    check_poll_interval(poll_interval)
    if max_requests_per_job is not None and (type(max_requests_per_job) is not int or max_requests_per_job < 1):
        raise KlusterInvalidRequestError(
            f"max_requests_per_job must be a positive integer (or None for the tier's limit), "
            f"got {max_requests_per_job!r}.",
            parameter="max_requests_per_job",
        )
    if client is None:
        client = make_client(settings)
    elif not isinstance(client, openai.OpenAI):
        raise KlusterConfigError(
            "client must be a sync openai.OpenAI (e.g. from make_client()); async entry "
            "points run it in a worker thread."
        )
    workdir = new_workdir(journal or None)
    options = {
        "completion_window": completion_window,
        "metadata": dict(metadata or {}),
        "max_requests": max_requests_per_job,
        "max_bytes": max_file_bytes,
    }
    try:
        with disk_errors(workdir, "the batch input files", SPOOL_ADVICE):
            prepared = prepare_requests(
                requests,
                settings,
                workdir,
                max_requests_per_job=max_requests_per_job,
                max_file_bytes=max_file_bytes,
                run_options=options,
                compat_applied=compat_applied,
            )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    opened: Journal | None = None
    try:
        if strict_models:
            check_models(client, prepared.unknown_models)
        opened = None if journal is False else Journal(journal)
        with disk_errors(opened.path if opened else workdir, "the batch journal", JOURNAL_ADVICE):
            jobs = _submit_chunks(client, prepared, opened, completion_window, metadata, settings.base_url)
    except BaseException:
        _cleanup(prepared.index, workdir, opened)
        raise
    if poll_interval is None:
        poll_interval = settings.poll_interval
    return BatchHandle(
        client, jobs, prepared.index, workdir, journal=opened, run_key=prepared.run_key, poll_interval=poll_interval
    )


def _submit_chunks(
    client: openai.OpenAI,
    prepared: PreparedInput,
    journal: Journal | None,
    completion_window: str,
    metadata: Mapping[str, str] | None,
    base_url: str,
) -> list[_Job]:
    known = journal.open_run(prepared.run_key, base_url) if journal else {}
    jobs = []
    with translate_errors():
        for chunk in prepared.chunks:
            entry = known.get(chunk.number)
            file_id = entry.file_id if entry else None
            batch = None
            if entry and entry.batch_id:
                try:
                    batch = client.batches.retrieve(entry.batch_id)
                except openai.NotFoundError:
                    _warn_stale(f"batch {entry.batch_id}", chunk.number, base_url)
            if batch is None and file_id:
                if _file_exists(client, file_id):
                    batch = _find_batch_for_file(client, file_id, run_key=prepared.run_key, chunk=chunk.number)
                else:
                    _warn_stale(f"input file {file_id}", chunk.number, base_url)
                    file_id = None
            reattached = batch is not None
            if batch is None:
                if file_id is None:
                    file_id = upload_file(client, chunk.path, purpose="batch")
                if journal:
                    journal.record(prepared.run_key, chunk.number, file_id=file_id)
                tags = {RUN_METADATA_KEY: prepared.run_key[:64], CHUNK_METADATA_KEY: str(chunk.number)}
                batch = _create_batch(
                    client,
                    file_id,
                    completion_window,
                    {**tags, **(metadata or {})},
                    run_key=prepared.run_key,
                    chunk=chunk.number,
                )
            if journal:
                journal.record(prepared.run_key, chunk.number, batch_id=batch.id)
            jobs.append(_Job(chunk, batch, reattached=reattached))
    return jobs


def _warn_stale(what: str, chunk: int, base_url: str) -> None:
    warnings.warn(
        f"The batch journal points at {what} for chunk {chunk} of this input, but {base_url} no longer has it "
        "(404: deleted or expired); resubmitting that chunk.",
        KlusterBatchWarning,
        stacklevel=3,
    )


def run_batch(
    requests: Iterable[Mapping[str, Any] | BaseModel],
    *,
    progress: bool = False,
    timeout: float | None = None,
    **options: Any,
) -> BatchResults:
    """Submit `requests` as Batch API jobs, wait, and return one `BatchResult` per input, in order
    (a `BatchResults` sequence read lazily from disk; for constant memory use `iter_results`).

    Options are those of `submit_batch` (settings, client, completion_window, metadata, journal,
    strict_models, poll_interval, ...). After a crash, calling it again with the same input
    re-attaches to the jobs already submitted.
    """
    with submit_batch(requests, **options) as handle:
        return handle.results(timeout=timeout, progress=progress)


def iter_results(
    requests: Iterable[Mapping[str, Any] | BaseModel],
    *,
    progress: bool = False,
    timeout: float | None = None,
    **options: Any,
) -> Iterator[BatchResult]:
    """Like `run_batch`, but yields results in input order as each job finishes (constant memory)."""
    with submit_batch(requests, **options) as handle:
        yield from handle.iter_results(timeout=timeout, progress=progress)


async def asubmit_batch(requests: Iterable[Mapping[str, Any] | BaseModel], **options: Any) -> BatchHandle:
    """`submit_batch` for asyncio (validation, file writing and upload run in a worker thread)."""
    return await asyncio.to_thread(submit_batch, requests, **options)


async def arun_batch(
    requests: Iterable[Mapping[str, Any] | BaseModel],
    *,
    progress: bool = False,
    timeout: float | None = None,
    **options: Any,
) -> BatchResults:
    """`run_batch` for asyncio: file work and HTTP calls run in worker threads, waits on the loop.
    Cancelling the awaiting task leaves the remote jobs running (re-run to re-attach)."""
    with await asubmit_batch(requests, **options) as handle:
        return await handle.aresults(timeout=timeout, progress=progress)
