"""SQLite state for everything that outlives a request: files, batches, fine-tuning jobs,
uploads, fine-tuned models and the MCP endpoint. Objects are JSON documents keyed by kind and id,
listed in creation order; file contents are blobs. Chat completions never touch it.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
    UNIQUE (kind, id));
CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, data BLOB NOT NULL);
"""
_BLOCK = 1 << 20


class Store:
    """A thread-safe document store in one SQLite file (a temporary one unless `path` is given)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kluster-emulator-")
            path = Path(self._tmp.name) / "state.sqlite3"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        self.spool_dir = self.path.parent / f"{self.path.stem}-spool"  # work files of running batches
        self.spool_dir.mkdir(parents=True, exist_ok=True)

    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace `obj` (keyed by its "id"), keeping its place in the listing order."""
        with self._lock:
            self._db.execute(
                "INSERT INTO objects (kind, id, data) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data",
                (kind, obj["id"], json.dumps(obj)),
            )
        return obj

    def get(self, kind: str, ident: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM objects WHERE kind = ? AND id = ?", (kind, ident)).fetchone()
        return json.loads(row[0]) if row else None

    def list(self, kind: str) -> list[dict[str, Any]]:
        """All objects of `kind`, newest first (the order list endpoints use)."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM objects WHERE kind = ? ORDER BY seq DESC", (kind,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete(self, kind: str, ident: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, ident)).rowcount > 0

    def put_blob(self, ident: str, data: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO blobs (id, data) VALUES (?, ?)", (ident, data))

    def get_blob(self, ident: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM blobs WHERE id = ?", (ident,)).fetchone()
        return bytes(row[0]) if row else None

    def put_blob_file(self, ident: str, path: Path, *, block: int = _BLOCK) -> None:
        """Store the contents of the file at `path` as a blob, copied in blocks (never all in memory)."""
        size = path.stat().st_size
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO blobs (id, data) VALUES (?, zeroblob(?))", (ident, size))
            rowid = self._db.execute("SELECT rowid FROM blobs WHERE id = ?", (ident,)).fetchone()[0]
            if size:
                with self._db.blobopen("blobs", "data", rowid) as blob, path.open("rb") as source:
                    while data := source.read(block):
                        blob.write(data)

    def iter_blob(self, ident: str, *, start: int = 0, block: int = _BLOCK) -> Iterator[bytes]:
        """A blob's bytes from offset `start`, in blocks, read through its own connection (WAL: other
        requests go on meanwhile); nothing if there is no such blob."""
        db = sqlite3.connect(self.path, check_same_thread=False)
        try:
            row = db.execute("SELECT rowid FROM blobs WHERE id = ?", (ident,)).fetchone()
            if row is None:
                return
            with db.blobopen("blobs", "data", row[0], readonly=True) as blob:
                blob.seek(start)
                while data := blob.read(block):
                    yield data
        finally:
            db.close()

    def iter_blob_lines(self, ident: str, *, start: int = 0) -> Iterator[bytes]:
        """A blob's lines (each with its newline, the last one maybe without) from byte offset `start`."""
        rest = b""
        for data in self.iter_blob(ident, start=start):
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield line + b"\n"
        if rest:
            yield rest

    def delete_blob(self, ident: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM blobs WHERE id = ?", (ident,))

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM objects")
            self._db.execute("DELETE FROM blobs")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._tmp is not None:
            self._tmp.cleanup()
