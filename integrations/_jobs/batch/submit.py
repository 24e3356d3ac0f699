"""`submit_batch`: validate and write the input, upload it and create the jobs (re-attaching through the
journal to the jobs an earlier run of the same input created), and hand back a `BatchHandle`."""

from __future__ import annotations

import asyncio
import shutil
import warnings
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import openai
from pydantic import BaseModel

from kluster_agents.integrations._api import tracing
from kluster_agents.integrations._api.client import make_client, translate_errors
from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterInvalidRequestError
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._jobs.batch.create import (
    CHUNK_METADATA_KEY,
    RUN_METADATA_KEY,
    create_batch,
    file_exists,
    find_batch_for_file,
    reconcile,
    run_batches,
)
from kluster_agents.integrations._jobs.batch.decode import KlusterBatchWarning
from kluster_agents.integrations._jobs.batch.handle import BatchHandle, Job, close_journal
from kluster_agents.integrations._jobs.batch.input import PreparedInput, check_models, prepare_requests
from kluster_agents.integrations._jobs.batch.results import SPOOL_ADVICE
from kluster_agents.integrations._jobs.journal import JOURNAL_ADVICE, Journal, new_workdir
from kluster_agents.integrations._jobs.jsonl import MAX_FILE_BYTES, Chunk, LineIndex, disk_errors, upload_file
from kluster_agents.integrations._jobs.polling import check_poll_interval

if TYPE_CHECKING:
    from openai.types import Batch


COMPLETION_WINDOWS = ("1h", "3h", "6h", "12h", "24h")
JournalOption = str | Path | Literal[False] | None


def check_completion_window(window: str) -> str:
    if window not in COMPLETION_WINDOWS:
        raise KlusterConfigError(
            f"completion_window must be one of {', '.join(COMPLETION_WINDOWS)} (kluster.ai's windows), got {window!r}."
        )
    return window


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
        with (
            _submit_span(prepared),
            disk_errors(opened.path if opened else workdir, "the batch journal", JOURNAL_ADVICE),
        ):
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
) -> list[Job]:
    known = journal.open_run(prepared.run_key, base_url) if journal else {}
    jobs = []
    on_server: dict[int, list[Batch]] | None = None  # jobs other workers (other journals) made for this input
    with translate_errors():
        for chunk in prepared.chunks:
            with tracing.span("kluster.batch.chunk", _chunk_attributes(prepared, chunk)) as traced:
                entry = known.get(chunk.number)
                file_id = entry.file_id if entry else None
                batch = None
                if entry and entry.batch_id:
                    try:
                        batch = client.batches.retrieve(entry.batch_id)
                    except openai.NotFoundError:
                        _warn_stale(f"batch {entry.batch_id}", chunk.number, base_url)
                if batch is None and file_id:
                    if file_exists(client, file_id):
                        batch = find_batch_for_file(client, file_id, run_key=prepared.run_key, chunk=chunk.number)
                    else:
                        _warn_stale(f"input file {file_id}", chunk.number, base_url)
                        file_id = None
                if batch is None and journal and file_id is None:
                    if on_server is None:
                        on_server = run_batches(client, prepared.run_key)
                    batch = next(iter(on_server.get(chunk.number, [])), None)
                reattached = batch is not None
                if batch is None:
                    if file_id is None:
                        file_id = upload_file(client, chunk.path, purpose="batch")
                    if journal:
                        journal.record(prepared.run_key, chunk.number, file_id=file_id)
                    tags = {RUN_METADATA_KEY: prepared.run_key[:64], CHUNK_METADATA_KEY: str(chunk.number)}
                    if traceparent := traced.traceparent():  # later polls, by any worker, link back to this span
                        tags[tracing.TRACE_METADATA_KEY] = traceparent
                    batch = create_batch(
                        client,
                        file_id,
                        completion_window,
                        {**tags, **(metadata or {})},
                        run_key=prepared.run_key,
                        chunk=chunk.number,
                    )
                    if journal:  # `journal=False` asks for a fresh job, even beside an identical one
                        batch = reconcile(client, batch, prepared.run_key, chunk.number)
                        reattached = batch.input_file_id != file_id
                if journal:
                    journal.record(prepared.run_key, chunk.number, batch_id=batch.id)
                jobs.append(Job(chunk, batch, reattached=reattached))
                traced.set({**tracing.batch_attributes(batch), "kluster.batch.reattached": reattached})
    return jobs


def _submit_span(prepared: PreparedInput) -> AbstractContextManager[tracing.Span]:
    lines = sum(chunk.lines for chunk in prepared.chunks)
    attributes: tracing.Attributes = {
        "kluster.batch.run_key": prepared.run_key,
        "kluster.batch.chunks": len(prepared.chunks),
    }
    return tracing.span("kluster.batch.submit", {**attributes, "kluster.batch.lines": lines})


def _chunk_attributes(prepared: PreparedInput, chunk: Chunk) -> dict[str, str | int]:
    return {
        "kluster.batch.run_key": prepared.run_key,
        "kluster.batch.chunk": chunk.number,
        "kluster.batch.lines": chunk.lines,
    }


def _warn_stale(what: str, chunk: int, base_url: str) -> None:
    warnings.warn(
        f"The batch journal points at {what} for chunk {chunk} of this input, but {base_url} no longer has it "
        "(404: deleted or expired); resubmitting that chunk.",
        KlusterBatchWarning,
        stacklevel=3,
    )


def _cleanup(index: LineIndex, workdir: Path, journal: Journal | None) -> None:
    index.close()
    close_journal(journal)
    shutil.rmtree(workdir, ignore_errors=True)


async def asubmit_batch(requests: Iterable[Mapping[str, Any] | BaseModel], **options: Any) -> BatchHandle:
    """`submit_batch` for asyncio (validation, file writing and upload run in a worker thread)."""
    return await asyncio.to_thread(submit_batch, requests, **options)
