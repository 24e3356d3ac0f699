"""Batch JSONL on disk, in constant memory: write request lines into size/line-limited chunk
files, keep a SQLite index of the lines (duplicate `custom_id`s, input order), keep result lines in
local files with their positions by input line, read result files line by line, and upload files
(Files API, or the Uploads API when large).

Limits (kluster-docs): each uploaded file must stay within 100 MB ("Upload fine-tuning file
(for files under 100MB)"; larger files go through the chunked Uploads API). The batch page
templates its own size limit (`{{ batch.max_size }}`), so batch chunks use the same 100 MB.
"""

from __future__ import annotations

import errno
import json
import mmap
import sqlite3
from array import array
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from pydantic_core import PydanticSerializationError, from_json, to_json

from kluster_agents.integrations._api.errors import (
    KlusterAPIError,
    KlusterDiskError,
    KlusterError,
    KlusterInvalidRequestError,
)

if TYPE_CHECKING:
    import openai
    from openai.types import FilePurpose

BATCH_ENDPOINT: Final = "/v1/chat/completions"
MAX_FILE_BYTES = 100 * 1024 * 1024
UPLOADS_API_PART_BYTES = 64 * 1024 * 1024


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # one encoder: no set-up per line


def dumps(obj: Any) -> str:
    """Compact JSON, as sent on the wire (one line, UTF-8 kept)."""
    return _ENCODER.encode(obj)


def batch_line(custom_id: str, body_json: str) -> bytes:
    """One batch input line (docs' "request input object") around an already-encoded body."""
    return (
        f'{{"custom_id":{dumps(custom_id)},"method":"POST","url":"{BATCH_ENDPOINT}","body":{body_json}}}\n'
    ).encode()


def encode_batch_line(custom_id: str, body: Any) -> bytes:
    """`batch_line(custom_id, dumps(body))` in one pass of pydantic-core's encoder (4x the stdlib's on the
    batch build's hot path). The same JSON; only float exponents are spelled shorter (`1e16`, not `1e+16`).
    Raises `TypeError` for a value JSON cannot hold, as `json` does."""
    try:
        line = to_json({"custom_id": custom_id, "method": "POST", "url": BATCH_ENDPOINT, "body": body})
    except PydanticSerializationError as exc:
        raise TypeError(str(exc)) from None
    return line + b"\n"


_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
_SQLITE_DISK_FULL = ("database or disk is full", "disk i/o error", "readonly database")


@contextmanager
def disk_errors(path: Path | str, what: str, advice: str) -> Iterator[None]:
    """A full or read-only disk while writing `what` at `path` becomes a `KlusterDiskError` that names
    the path and says what to free (`advice`); any other error passes unchanged."""
    try:
        yield
    except KlusterError:
        raise
    except (OSError, sqlite3.OperationalError) as exc:
        full = (
            exc.errno in _DISK_FULL
            if isinstance(exc, OSError)
            else any(s in str(exc).lower() for s in _SQLITE_DISK_FULL)
        )
        if not full:
            raise
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KlusterDiskError(f"Could not write {what} at {path} ({reason}). {advice}", path=str(path)) from exc


@dataclass
class Chunk:
    """One input file of a batch run: at most `max_lines` lines and `max_bytes` bytes."""

    number: int
    path: Path
    first_index: int
    lines: int = 0
    bytes: int = 0


@dataclass
class ChunkedWriter:
    """Streams batch lines into `batch-input-<n>.jsonl` files, starting a new file whenever the
    next line would exceed the tier's line limit or the file-size limit."""

    directory: Path
    max_lines: int | None
    max_bytes: int = MAX_FILE_BYTES
    chunks: list[Chunk] = field(default_factory=list)
    _handle: IO[bytes] | None = field(default=None, init=False, repr=False)

    def write(self, line: bytes, *, index: int, custom_id: str) -> Chunk:
        if len(line) > self.max_bytes:
            raise KlusterInvalidRequestError(
                f"Request {index} (custom_id {custom_id!r}) is {len(line):,} bytes as a batch line, above the "
                f"{self.max_bytes:,}-byte file limit; shorten its messages or send it as a real-time request.",
                parameter=f"requests[{index}]",
            )
        chunk = self.chunks[-1] if self.chunks else None
        if (
            chunk is None
            or (self.max_lines is not None and chunk.lines >= self.max_lines)
            or chunk.bytes + len(line) > self.max_bytes
        ):
            chunk = self._start(index)
        assert self._handle is not None
        self._handle.write(line)
        chunk.lines += 1
        chunk.bytes += len(line)
        return chunk

    def _start(self, index: int) -> Chunk:
        self.close()
        chunk = Chunk(len(self.chunks), self.directory / f"batch-input-{len(self.chunks)}.jsonl", first_index=index)
        self._handle = chunk.path.open("wb")
        self.chunks.append(chunk)
        return chunk

    def close(self) -> list[Chunk]:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        return self.chunks


class LineIndex:
    """On-disk index of a run's lines: custom_id -> input index and chunk (results: `ResultLines`).

    Lives in SQLite so that a million lines cost disk, not memory, and so results can be placed
    in input order whatever order the service wrote them in. Lines are written in blocks by a worker
    thread (SQLite releases the GIL while it inserts), so indexing overlaps validating and encoding the
    next lines; a repeated custom_id raises at the next `add` or `flush` after the block that holds it.
    """

    _BLOCK = 10_000

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
            CREATE TABLE IF NOT EXISTS lines (idx INTEGER PRIMARY KEY, custom_id TEXT NOT NULL UNIQUE,
                                              chunk INTEGER NOT NULL);
            """
        )
        self._pending: list[tuple[int, str, int]] = []
        self._writer: ThreadPoolExecutor | None = None
        self._writing: Future[None] | None = None

    def add(self, index: int, custom_id: str, chunk: int) -> None:
        self._pending.append((index, custom_id, chunk))
        if len(self._pending) >= self._BLOCK:
            self._wait()
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="kluster-batch-index")
            block, self._pending = self._pending, []
            self._writing = self._writer.submit(self._insert, block)

    def _wait(self) -> None:
        """Wait for the block being written (re-raising its error in the caller's thread)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def flush(self) -> None:
        self._wait()
        if self._pending:
            block, self._pending = self._pending, []
            self._insert(block)

    def _insert(self, block: list[tuple[int, str, int]]) -> None:
        try:
            with self._db:
                self._db.executemany("INSERT INTO lines VALUES (?, ?, ?)", block)
        except sqlite3.IntegrityError:
            self._raise_duplicate(block)

    def _raise_duplicate(self, block: list[tuple[int, str, int]]) -> None:
        for index, custom_id, _ in block:
            first = self._db.execute("SELECT idx FROM lines WHERE custom_id = ?", (custom_id,)).fetchone()
            earlier = first[0] if first else next(i for i, c, _ in block if c == custom_id)
            if earlier != index:
                raise KlusterInvalidRequestError(
                    f"Request {index} repeats custom_id {custom_id!r} (first used by request {earlier}); "
                    "custom_id must be unique within a batch — omit it to have one generated.",
                    parameter=f"requests[{index}].custom_id",
                )
        raise AssertionError("IntegrityError without a duplicate custom_id")  # pragma: no cover

    def __len__(self) -> int:
        self.flush()
        return int(self._db.execute("SELECT COUNT(*) FROM lines").fetchone()[0])

    def custom_id_at(self, index: int) -> str | None:
        self.flush()
        row = self._db.execute("SELECT custom_id FROM lines WHERE idx = ?", (index,)).fetchone()
        return None if row is None else str(row[0])

    def positions(self, start: int, stop: int) -> dict[str, int]:
        """custom_id -> position (from `start`) of input lines `start` to `stop - 1`: a chunk's lines,
        to place its results (a range of the primary key, read in one pass)."""
        self.flush()
        rows = self._db.execute("SELECT custom_id, idx FROM lines WHERE idx >= ? AND idx < ?", (start, stop))
        return {custom_id: idx - start for custom_id, idx in rows}

    def custom_ids(self, start: int, stop: int) -> Iterator[str]:
        """The custom_ids of input lines `start` to `stop - 1`, in input order."""
        self.flush()
        cursor = self._db.execute("SELECT custom_id FROM lines WHERE idx >= ? AND idx < ? ORDER BY idx", (start, stop))
        while rows := cursor.fetchmany(2000):
            for (custom_id,) in rows:
                yield custom_id

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)  # a block being written finishes first
        self._writing = None
        self._db.close()


_RELEASE_EVERY = 8192  # result lines read between two releases of the mapped pages (a few MB)
_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)  # not on Windows: pages then stay mapped


class ResultLines:
    """One chunk's result lines, kept in a local file as the service sent them, and per input line the
    position of its (last) result line: 12 bytes a line in memory, the replies stay on disk and are
    read back (memory-mapped) when a result is accessed. Copying each reply into SQLite instead cost
    more per line the bigger the run."""

    def __init__(self, path: Path, lines: int) -> None:
        self.path = path
        self.lines = lines
        self._offsets = array("q", [-1]) * lines
        self._lengths = array("i", [0]) * lines
        self._out: IO[bytes] | None = path.open("wb")
        self._size = 0
        self._map: mmap.mmap | None = None
        self._reads = 0
        self._pending: list[bytes] = []  # written in blocks

    def add(self, position: int, line: bytes) -> bool:
        """Keep `line` (no newline) as the result of the chunk's `position`-th line; a later line for the
        same position replaces the earlier one. True if there was an earlier one."""
        if self._out is None:
            raise ValueError("ResultLines is finished; no more lines can be added")
        replaced = self._offsets[position] >= 0
        self._pending.append(line)
        self._offsets[position] = self._size
        self._lengths[position] = len(line)
        self._size += len(line) + 1
        if len(self._pending) >= 4096:
            self._write()
        return replaced

    def get_written(self, position: int) -> bytes | None:
        """While lines are still being added: the line kept so far for `position`, or None (a rare
        look back, for a position answered twice)."""
        offset = self._offsets[position]
        if offset < 0 or self._out is None:
            return None
        self._write()
        self._out.flush()
        with self.path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(self._lengths[position])

    def _write(self) -> None:
        if self._out is not None and self._pending:
            self._pending.append(b"")
            self._out.write(b"\n".join(self._pending))
            self._pending.clear()

    def finish(self) -> None:
        """Every line is in: map the file for reading."""
        if self._out is None:
            return
        self._write()
        self._out.close()
        self._out = None
        if self._size:
            with self.path.open("rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

    def get(self, position: int) -> bytes | None:
        """The result line of the chunk's `position`-th line, or None when the service sent none."""
        offset = self._offsets[position]
        if offset < 0 or self._map is None:
            return None
        self._reads += 1
        if self._reads % _RELEASE_EVERY == 0:
            self._release()
        return self._map[offset : offset + self._lengths[position]]

    def __iter__(self) -> Iterator[bytes | None]:
        """Every position's result line (or None), in input order."""
        data, lengths = self._map, self._lengths
        for position, offset in enumerate(self._offsets):
            if offset < 0 or data is None:
                yield None
                continue
            if position % _RELEASE_EVERY == 0:
                self._release()
            yield data[offset : offset + lengths[position]]

    def _release(self) -> None:
        """Drop the pages read so far from this process's memory (they stay in the OS file cache): a
        mapped file's pages count as the process's RSS, and a big run would otherwise map all of it."""
        if self._map is not None and _DONTNEED is not None:
            self._map.madvise(_DONTNEED)

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._map is not None:
            self._map.close()
            self._map = None


def parse_json_line(raw: bytes | str) -> dict[str, Any]:
    """One JSONL line as an object; `ValueError` with a short reason otherwise.

    pydantic-core's parser first (2-3x the stdlib's, on every result line of a batch); a line it refuses
    gets the stdlib's verdict (which also accepts what it does not, e.g. an escaped lone surrogate)."""
    try:
        obj = from_json(raw)
    except ValueError:
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def iter_json_lines(lines: Iterable[bytes | str], *, source: str) -> Iterator[dict[str, Any]]:
    """Parse a JSONL stream line by line; a malformed line raises an error naming it."""
    for _, obj in iter_numbered_json_lines(lines, source=source):
        yield obj


def iter_numbered_json_lines(lines: Iterable[bytes | str], *, source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """`iter_json_lines` with each object's 1-based line number (blank lines are skipped but counted)."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, parse_json_line(raw)
        except ValueError as exc:
            raise KlusterInvalidRequestError(f"{source}, line {number}: {exc}.") from None


def iter_remote_lines(client: openai.OpenAI, file_id: str) -> Iterator[str]:
    """Stream a remote file's lines as text without holding the whole file in memory (split like
    `iter_remote_line_bytes`, so a raw U+2028 inside a JSON line does not cut it in two)."""
    for line in iter_remote_line_bytes(client, file_id):
        yield line.decode("utf-8", errors="replace").removesuffix("\r")


def iter_remote_line_bytes(client: openai.OpenAI, file_id: str) -> Iterator[bytes]:
    r"""A remote JSONL file's lines as bytes, streamed, split at b"\n" only: a JSON line never holds a raw
    newline, but may hold a raw U+2028 or U+0085, where text line splitting (`iter_lines`) would cut it."""
    with client.files.with_streaming_response.content(file_id) as response:
        rest = b""
        for block in response.iter_bytes():
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            yield from lines
        if rest:
            yield rest


def upload_file(
    client: openai.OpenAI,
    path: Path,
    *,
    purpose: FilePurpose,
    uploads_api_above: int = MAX_FILE_BYTES,
    part_bytes: int = UPLOADS_API_PART_BYTES,
) -> str:
    """Upload `path` and return its file id: the Files API, or the chunked Uploads API above
    `uploads_api_above` bytes (the docs' advice for files near or over 100 MB)."""
    size = path.stat().st_size
    if size > uploads_api_above:
        upload = client.uploads.upload_file_chunked(
            file=path,
            mime_type="application/jsonl",
            purpose=purpose,
            part_size=part_bytes,
        )
        if upload.file is None:
            raise KlusterAPIError(
                f"The Uploads API completed {path.name} without returning a file id; retry the upload."
            )
        return upload.file.id
    with path.open("rb") as handle:
        return client.files.create(file=(path.name, handle, "application/jsonl"), purpose=purpose).id
