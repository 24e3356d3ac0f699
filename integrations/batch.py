"""Batch API engine: many chat requests in, one result per request out, in input order.

Requests are validated through `compat.prepare_chat_request` and streamed to JSONL chunk files
(constant memory), split by the tier's max batch requests and the 100 MB file limit, uploaded,
submitted, polled with backoff, and joined back by `custom_id` from the output and error files.
Every input is accounted for: succeeded, failed (with the server's error), cancelled or expired.
A local journal (`journal.py`) makes a crashed run re-attach instead of submitting twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import openai
from kluster_agents.integrations.client import make_client, translate_errors
from kluster_agents.integrations.compat import prepare_chat_request
from kluster_agents.integrations.errors import (
    KlusterBatchError,
    KlusterConfigError,
    KlusterError,
    KlusterInvalidRequestError,
    KlusterTimeoutError,
    error_from_response,
)
from kluster_agents.integrations.journal import Journal
from kluster_agents.integrations.jsonl import (
    BATCH_ENDPOINT,
    MAX_FILE_BYTES,
    Chunk,
    ChunkedWriter,
    LineIndex,
    batch_line,
    dumps,
    iter_remote_lines,
    parse_json_line,
    upload_file,
)
from kluster_agents.integrations.models import get_model
from kluster_agents.integrations.settings import KlusterSettings, resolve_settings
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from openai.types import Batch

COMPLETION_WINDOWS = ("1h", "3h", "6h", "12h", "24h")
TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
ResultStatus = Literal["succeeded", "failed", "cancelled", "expired"]
JournalOption = str | Path | Literal[False] | None


class KlusterBatchWarning(UserWarning):
    """Something in a batch's result files was unusable (the affected lines are reported as failed)."""


@dataclass
class BatchResult:
    """The outcome of one input request; `index` is its position in the input."""

    custom_id: str
    index: int
    status: ResultStatus
    response: ChatCompletion | None = None
    error: KlusterBatchError | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def unwrap(self) -> ChatCompletion:
        """The chat completion, or raise this line's error."""
        if self.response is None:
            raise self.error or KlusterBatchError(f"Request {self.index} has no result.", custom_id=self.custom_id)
        return self.response


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


# --- polling and progress, shared with adaptive inference and fine-tuning --------------------------------


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
    with live_progress(progress, label) as update:
        for delay in poll_delays(poll_interval, timeout, label):
            value = fetch()
            update(*describe(value))
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


# --- building the input ---------------------------------------------------------------------------------


def _as_body(request: Any, index: int) -> tuple[str | None, dict[str, Any]]:
    """(custom_id, chat body) from a chat body, a pydantic model, or a batch line {custom_id, body, ...}."""
    if isinstance(request, BaseModel):
        request = request.model_dump(exclude_none=True, by_alias=True)
    if not isinstance(request, Mapping):
        raise KlusterInvalidRequestError(
            f"Request {index} must be a chat request dict (model, messages, ...) or a pydantic model, "
            f"got {type(request).__name__}.",
            parameter=f"requests[{index}]",
        )
    body = dict(request)
    custom_id = body.pop("custom_id", None)
    if "body" in body and "messages" not in body:  # already a batch line
        url = body.get("url", BATCH_ENDPOINT)
        if url != BATCH_ENDPOINT:
            raise KlusterInvalidRequestError(
                f"Request {index}: url {url!r} is not supported; kluster.ai batches only {BATCH_ENDPOINT}.",
                parameter=f"requests[{index}].url",
            )
        body = dict(body["body"])
    if custom_id is not None and (not isinstance(custom_id, str) or not custom_id.strip()):
        raise KlusterInvalidRequestError(
            f"Request {index}: custom_id must be a non-empty string, got {custom_id!r}.",
            parameter=f"requests[{index}].custom_id",
        )
    return custom_id, body


def _at_line(exc: KlusterError, index: int, custom_id: str) -> KlusterError:
    """Name the offending line in an error raised while validating it (same type, same attributes)."""
    exc.args = (f"Request {index} (custom_id {custom_id!r}): {exc.message}",)
    return exc


@dataclass
class _Prepared:
    chunks: list[Chunk]
    index: LineIndex
    run_key: str
    unknown_models: dict[str, tuple[int, str]]  # name -> first (index, custom_id) using it


def _prepare(
    requests: Iterable[Any],
    settings: KlusterSettings,
    workdir: Path,
    *,
    max_requests_per_job: int | None,
    max_file_bytes: int,
    run_options: Mapping[str, Any],
) -> _Prepared:
    """Validate every request and stream it to chunk files; nothing touches the network."""
    writer = ChunkedWriter(workdir, max_lines=max_requests_per_job, max_bytes=max_file_bytes)
    index = LineIndex(workdir / "lines.sqlite3")
    digest = hashlib.sha256(dumps({"base_url": settings.base_url, **run_options}).encode())
    tier_limited = max_requests_per_job is None
    unknown: dict[str, tuple[int, str]] = {}
    try:
        for i, request in enumerate(requests):
            custom_id, body = _as_body(request, i)
            custom_id = custom_id or f"auto-{i}"
            try:
                if body.get("stream"):
                    raise KlusterInvalidRequestError("stream=True cannot be batched; remove it.", parameter="stream")
                body = prepare_chat_request(body, settings=settings)
            except KlusterError as exc:
                raise _at_line(exc, i, custom_id) from None
            info = get_model(body["model"])
            if info.kind == "unknown":
                unknown.setdefault(info.id, (i, custom_id))
            limits = info.limits_for(settings.tier)
            if tier_limited and limits is not None and limits.max_batch_requests is not None:
                writer.max_lines = min(writer.max_lines or limits.max_batch_requests, limits.max_batch_requests)
            line = batch_line(custom_id, dumps(body))
            digest.update(line)
            chunk = writer.write(line, index=i, custom_id=custom_id)
            index.add(i, custom_id, chunk.number)
        index.flush()
    except BaseException:
        writer.close()
        index.close()
        raise
    chunks = writer.close()
    if not chunks:
        index.close()
        raise KlusterInvalidRequestError("The batch is empty: pass at least one chat request.", parameter="requests")
    return _Prepared(chunks, index, digest.hexdigest(), unknown)


def _check_models(client: openai.OpenAI, unknown: Mapping[str, tuple[int, str]]) -> None:
    """Names the catalog does not know are checked once against GET /v1/models (strict_models=True)."""
    if not unknown:
        return
    with translate_errors():
        served = {m.id.lower() for m in client.models.list().data}
    for name, (i, custom_id) in unknown.items():
        if name.lower() not in served:
            raise KlusterInvalidRequestError(
                f"Request {i} (custom_id {custom_id!r}): model {name!r} is neither in the kluster.ai catalog nor "
                "in GET /v1/models for this key; fix the name (see `kluster-agents models`) or pass "
                "strict_models=False to let the service decide.",
                parameter=f"requests[{i}].model",
            )


def _find_batch_for_file(client: openai.OpenAI, file_id: str) -> Batch | None:
    """A batch already created from `file_id` (a crash between create and journal write)."""
    for batch in client.batches.list(limit=100).data:
        if batch.input_file_id == file_id:
            return batch
    return None


# --- the handle -----------------------------------------------------------------------------------------


@dataclass
class _Job:
    chunk: Chunk
    batch: Batch
    collected: bool = False

    @property
    def done(self) -> bool:
        return self.batch.status in TERMINAL_STATUSES


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
        self._index = index
        self._journal = journal
        self._run_key = run_key
        self.poll_interval = poll_interval
        self.workdir = workdir
        self._finalizer = weakref.finalize(self, _cleanup, index, workdir, journal)

    @property
    def batch_ids(self) -> list[str]:
        return [job.batch.id for job in self._jobs]

    def __len__(self) -> int:
        return sum(job.chunk.lines for job in self._jobs)

    def __repr__(self) -> str:
        return f"BatchHandle(batch_ids={self.batch_ids!r}, requests={len(self)})"

    def __enter__(self) -> BatchHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Delete the local work files (the remote jobs are not affected)."""
        self._finalizer()

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
        return self._snapshot()

    def cancel(self) -> BatchStatus:
        """Ask kluster.ai to cancel every unfinished job; lines not run end up `cancelled`."""
        with translate_errors():
            for job in self._jobs:
                if not job.done:
                    job.batch = self._client.batches.cancel(job.batch.id)
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
        """Poll (with backoff) until every job is finished; a timeout leaves the jobs running."""
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
        with live_progress(progress, self._label) as update:
            for delay in poll_delays(self.poll_interval, timeout, self._label):
                status = await asyncio.to_thread(self.status)
                update(*self._describe(status))
                if status.done:
                    return status
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def iter_results(self, *, timeout: float | None = None, progress: bool = False) -> Iterator[BatchResult]:
        """Yield one `BatchResult` per input, in input order, job by job as each finishes."""
        for job in self._jobs:
            if not job.done:
                self._wait_until(lambda _, job=job: job.done, timeout=timeout, progress=progress)
            self._collect(job)
            for idx, custom_id, _, ok, payload in self._index.ordered(chunk=job.chunk.number):
                yield build_result(idx, custom_id, ok, payload, job.batch)
        if self._journal is not None and self._run_key is not None:
            self._journal.finish(self._run_key)

    def results(self, *, timeout: float | None = None, progress: bool = False) -> list[BatchResult]:
        """Every input's result, in input order (waits for the jobs first)."""
        return list(self.iter_results(timeout=timeout, progress=progress))

    async def aresults(self, *, timeout: float | None = None, progress: bool = False) -> list[BatchResult]:
        """`results()` for asyncio."""
        await self.wait_async(timeout=timeout, progress=progress)
        return await asyncio.to_thread(self.results)

    def _collect(self, job: _Job) -> None:
        """Download a finished job's output and error files into the line index (once)."""
        if job.collected:
            return
        batch = job.batch
        rows: list[tuple[str, bool, str]] = []
        with translate_errors():
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                for number, raw in enumerate(iter_remote_lines(self._client, file_id), start=1):
                    if not raw.strip():
                        continue
                    try:
                        obj = parse_json_line(raw)
                    except ValueError as exc:  # its line then has no result and is reported as such
                        warnings.warn(
                            f"Batch {batch.id}: skipped line {number} of result file {file_id}: {exc}.",
                            KlusterBatchWarning,
                            stacklevel=2,
                        )
                        continue
                    rows.append((str(obj.get("custom_id")), line_ok(obj), raw))
                    if len(rows) >= 5000:
                        self._index.store_results(rows)
                        rows = []
        self._index.store_results(rows)
        self._index.store_results(_validation_errors(batch, job.chunk, self._index))
        job.collected = True


def _cleanup(index: LineIndex, workdir: Path, journal: Journal | None) -> None:
    index.close()
    if journal is not None:
        journal.close()
    shutil.rmtree(workdir, ignore_errors=True)


def line_ok(obj: Mapping[str, Any]) -> bool:
    """Whether a result-file line is a successful completion."""
    response = obj.get("response") or {}
    return not obj.get("error") and response.get("status_code") == 200 and isinstance(response.get("body"), dict)


def _validation_errors(batch: Batch, chunk: Chunk, index: LineIndex) -> list[tuple[str, bool, str]]:
    """Line-numbered errors from the batch object (input validation) as per-line failures."""
    rows = []
    for err in (batch.errors.data or []) if batch.errors else []:
        line = getattr(err, "line", None)
        custom_id = index.custom_id_at(chunk.first_index + line - 1) if isinstance(line, int) and line >= 1 else None
        if custom_id is not None and line <= chunk.lines:
            error = {"code": err.code, "message": err.message, "param": err.param, "line": line}
            rows.append((custom_id, False, dumps({"custom_id": custom_id, "error": error})))
    return rows


def _line_error(idx: int, custom_id: str, batch: Batch, obj: Mapping[str, Any]) -> KlusterBatchError:
    response = obj.get("response") or {}
    where = f"Request {idx} (custom_id {custom_id!r}) failed in batch {batch.id}"
    if response.get("status_code") not in (None, 200):
        cause = error_from_response(int(response["status_code"]), response.get("body"))
        error = KlusterBatchError(f"{where}: {cause.message}", custom_id=custom_id, batch_id=batch.id)
        error.__cause__ = cause
        return error
    detail = obj.get("error") or {}
    message = detail.get("message") if isinstance(detail, dict) else str(detail)
    code = f" [{detail.get('code')}]" if isinstance(detail, dict) and detail.get("code") else ""
    return KlusterBatchError(f"{where}{code}: {message or 'no response body'}", custom_id=custom_id, batch_id=batch.id)


def _batch_level_message(batch: Batch) -> str:
    if batch.errors and batch.errors.data:
        return "; ".join(f"{e.code}: {e.message}" for e in batch.errors.data[:3])
    return "no result for this line"


class _SucceededResponse(BaseModel):
    body: ChatCompletion


class _SucceededLine(BaseModel):
    """A successful result line, parsed in one pass by pydantic-core (the hot path of big batches)."""

    response: _SucceededResponse


def build_result(idx: int, custom_id: str, ok: bool | None, payload: str | None, batch: Batch) -> BatchResult:
    """One input's `BatchResult` from its stored result line (None: the job's final status decides)."""
    if payload is not None and ok:
        try:
            completion = _SucceededLine.model_validate_json(payload).response.body
        except ValidationError:  # an unusual shape still reaches the caller, as the SDK would give it
            completion = ChatCompletion.construct(**json.loads(payload)["response"]["body"])
        return BatchResult(custom_id, idx, "succeeded", response=completion)
    obj = json.loads(payload) if payload is not None else None
    status = batch.status
    ran = obj is not None and not (obj.get("response") is None and status in ("cancelled", "expired"))
    if ran:
        return BatchResult(custom_id, idx, "failed", error=_line_error(idx, custom_id, batch, obj))
    if status in ("cancelled", "expired"):
        text = "was cancelled before it ran" if status == "cancelled" else "expired before it ran (completion window)"
        error = KlusterBatchError(
            f"Request {idx} (custom_id {custom_id!r}) {text} in batch {batch.id}.",
            custom_id=custom_id,
            batch_id=batch.id,
        )
        return BatchResult(custom_id, idx, status, error=error)  # type: ignore[arg-type]
    error = KlusterBatchError(
        f"Request {idx} (custom_id {custom_id!r}): batch {batch.id} ended '{status}': {_batch_level_message(batch)}.",
        custom_id=custom_id,
        batch_id=batch.id,
    )
    return BatchResult(custom_id, idx, "failed", error=error)


# --- public entry points --------------------------------------------------------------------------------


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
) -> BatchHandle:
    """Validate, write, upload and submit `requests`; returns at once with a `BatchHandle`.

    Each request is an OpenAI-style chat body (optional `custom_id`; `auto-<index>` otherwise),
    a pydantic model of one, or a batch line `{custom_id, method, url, body}`. Bad input raises a
    `KlusterError` naming the request (index and custom_id) before anything is uploaded.
    `strict_models` checks names the catalog does not know against GET /v1/models.
    `journal` is a path, None (default `~/.cache/kluster-agents/`, or `KLUSTER_JOURNAL_PATH`), or False.
    """
    settings = resolve_settings(settings)
    check_completion_window(completion_window)
    if client is None:
        client = make_client(settings)
    elif not isinstance(client, openai.OpenAI):
        raise KlusterConfigError(
            "client must be a sync openai.OpenAI (e.g. from make_client()); async entry "
            "points run it in a worker thread."
        )
    workdir = Path(tempfile.mkdtemp(prefix="kluster-batch-"))
    options = {
        "completion_window": completion_window,
        "metadata": dict(metadata or {}),
        "max_requests": max_requests_per_job,
        "max_bytes": max_file_bytes,
    }
    try:
        prepared = _prepare(
            requests,
            settings,
            workdir,
            max_requests_per_job=max_requests_per_job,
            max_file_bytes=max_file_bytes,
            run_options=options,
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    opened: Journal | None = None
    try:
        if strict_models:
            _check_models(client, prepared.unknown_models)
        opened = None if journal is False else Journal(journal)
        jobs = _submit_chunks(client, prepared, opened, completion_window, metadata, settings.base_url)
    except BaseException:
        _cleanup(prepared.index, workdir, opened)
        raise
    return BatchHandle(
        client, jobs, prepared.index, workdir, journal=opened, run_key=prepared.run_key, poll_interval=poll_interval
    )


def _submit_chunks(
    client: openai.OpenAI,
    prepared: _Prepared,
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
            batch = client.batches.retrieve(entry.batch_id) if entry and entry.batch_id else None
            if batch is None and entry and entry.file_id:
                batch = _find_batch_for_file(client, entry.file_id)
            if batch is None:
                file_id = entry.file_id if entry and entry.file_id else upload_file(client, chunk.path, purpose="batch")
                if journal:
                    journal.record(prepared.run_key, chunk.number, file_id=file_id)
                batch = client.batches.create(
                    input_file_id=file_id,
                    endpoint=BATCH_ENDPOINT,
                    completion_window=completion_window,  # type: ignore[arg-type]
                    metadata=dict(metadata) if metadata else None,
                )
            if journal:
                journal.record(prepared.run_key, chunk.number, batch_id=batch.id)
            jobs.append(_Job(chunk, batch))
    return jobs


def run_batch(
    requests: Iterable[Mapping[str, Any] | BaseModel],
    *,
    progress: bool = False,
    timeout: float | None = None,
    **options: Any,
) -> list[BatchResult]:
    """Submit `requests` as Batch API jobs, wait, and return one `BatchResult` per input, in order.

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
) -> list[BatchResult]:
    """`run_batch` for asyncio: file work and HTTP calls run in worker threads, waits on the loop.
    Cancelling the awaiting task leaves the remote jobs running (re-run to re-attach)."""
    with await asubmit_batch(requests, **options) as handle:
        return await handle.aresults(timeout=timeout, progress=progress)
