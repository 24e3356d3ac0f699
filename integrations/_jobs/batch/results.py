"""A run's local files (the spool) and `BatchResults`, the results read back from them on access: a
million results cost disk and their line positions, not memory."""

from __future__ import annotations

import bisect
import operator
import shutil
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, overload

from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._jobs.batch.decode import BatchResult, ambiguous_result, result_from_line
from kluster_agents.integrations._jobs.jsonl import Chunk, LineIndex, ResultLines

if TYPE_CHECKING:
    from openai.types import Batch


SPOOL_ADVICE = (
    "Free space there, or set TMPDIR to a disk with room (batch work files are temporary); the jobs already "
    "submitted keep running, and re-running the same input re-attaches to them."
)


def chunk_results(
    index: LineIndex, stored: ResultLines, first: int, batch: Batch, duplicates: Mapping[str, list[bytes]]
) -> Iterator[BatchResult]:
    custom_ids = index.custom_ids(first, first + stored.lines)
    for idx, (custom_id, payload) in enumerate(zip(custom_ids, stored, strict=True), start=first):
        earlier = duplicates.get(custom_id) if duplicates else None
        if earlier is not None and payload is not None:
            yield ambiguous_result(idx, custom_id, [*earlier, payload], batch)
        else:
            yield result_from_line(idx, custom_id, payload, batch)


def _remove_spool(index: LineIndex, results: dict[int, ResultLines], workdir: Path) -> None:
    index.close()
    for stored in results.values():
        stored.close()
    shutil.rmtree(workdir, ignore_errors=True)


class Spool:
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

    def acquire(self) -> Spool:
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

    def __init__(self, spool: Spool, jobs: Sequence[tuple[Chunk, Batch, Mapping[str, list[bytes]]]]) -> None:
        self._spool: Spool | None = spool.acquire()
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
            yield from chunk_results(index, spool.results[chunk.number], chunk.first_index, batch, duplicates)

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
