"""The one-call entry points: submit, wait, and return (or yield) one result per input, in input order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from kluster_agents.integrations._jobs.batch.decode import BatchResult
from kluster_agents.integrations._jobs.batch.results import BatchResults
from kluster_agents.integrations._jobs.batch.submit import asubmit_batch, submit_batch


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
