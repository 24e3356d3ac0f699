"""SQLite state for everything that outlives a request: files, batches, fine-tuning jobs,
uploads, fine-tuned models and the MCP endpoint. Objects are JSON documents keyed by kind and id,
listed in creation order; file contents are blobs. Chat completions never touch it.

Without a `path`, the state lives in a `kluster-emulator-*` temporary directory that holds the
owner's process id (`owner.pid`). It is removed on every stop short of SIGKILL: `close()`, normal
interpreter exit, SIGINT (KeyboardInterrupt unwinds through `close()`), and SIGTERM — how test
runners, process managers and CI stop a process — through a handler that removes this process's
directories and then lets the signal end the process as before. Directories of emulators that died
anyway (SIGKILL, a crash) are removed by the next emulator that starts, once their owner is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
    UNIQUE (kind, id));
CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, data BLOB NOT NULL);
"""
_BLOCK = 1 << 20
TEMP_PREFIX = "kluster-emulator-"
PID_FILE = "owner.pid"
_own_dirs: set[Path] = set()  # this process's temporary state directories, still in use
_sigterm_lock = threading.Lock()
_sigterm_installed = False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_dirs(root: str | Path | None = None) -> list[Path]:
    """Remove the `kluster-emulator-*` directories under `root` (the temp folder) whose owner process is
    gone; directories without a readable pid file are left alone. Returns what was removed."""
    if sys.platform == "win32":  # os.kill(pid, 0) is not a liveness check there
        return []
    removed = []
    for directory in Path(root or tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            pid = int((directory / PID_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed


def _remove_own_dirs() -> None:
    for directory in list(_own_dirs):
        shutil.rmtree(directory, ignore_errors=True)
        _own_dirs.discard(directory)


def _install_sigterm_cleanup() -> None:
    """Remove this process's state directories on SIGTERM, then end as the previous handler would.
    Only from the main thread (where Python runs signal handlers), and never over an ignored SIGTERM."""
    global _sigterm_installed
    with _sigterm_lock:
        if _sigterm_installed or threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if previous in (signal.SIG_IGN, None):
            return

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            _remove_own_dirs()
            if callable(previous):
                previous(signum, frame)
                return
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
        _sigterm_installed = True


if hasattr(os, "register_at_fork"):  # a forked child shares the handler, not the directories
    os.register_at_fork(after_in_child=_own_dirs.clear)


class Store:
    """A thread-safe document store in one SQLite file (a temporary one unless `path` is given)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if path is None:
            remove_stale_dirs()
            self._tmp = tempfile.TemporaryDirectory(prefix=TEMP_PREFIX)
            (Path(self._tmp.name) / PID_FILE).write_text(str(os.getpid()))
            _own_dirs.add(Path(self._tmp.name))
            _install_sigterm_cleanup()
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
            _own_dirs.discard(Path(self._tmp.name))
            self._tmp.cleanup()
