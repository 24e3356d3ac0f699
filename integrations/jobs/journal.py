"""A small local journal of submitted batch runs, so a crashed run resumes instead of paying twice.

Each run is keyed by a hash of its normalised input lines + base URL + options; per chunk it
records the uploaded file id and the created batch id as soon as the server returns them.
Re-running the same input finds them and re-attaches. Location: `KLUSTER_JOURNAL_PATH`, else
`~/.cache/kluster-agents/journal.sqlite3`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kluster_agents.integrations.api.errors import KlusterConfigError

JOURNAL_ENV = "KLUSTER_JOURNAL_PATH"
KEEP_FINISHED_DAYS = 30


def default_journal_path() -> Path:
    configured = os.environ.get(JOURNAL_ENV)
    if configured:
        return Path(configured).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "kluster-agents" / "journal.sqlite3"


@dataclass(frozen=True)
class JournalEntry:
    """What the journal knows about one chunk of a run."""

    chunk: int
    file_id: str | None
    batch_id: str | None


class Journal:
    """SQLite journal shared by every run of this user (safe across threads and processes)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_journal_path()
        if self.path.is_dir():
            raise KlusterConfigError(
                f"The batch journal path {str(self.path)!r} is a directory; give a file path such as "
                f"{str(self.path / 'journal.sqlite3')!r} (journal= or {JOURNAL_ENV}), or journal=False."
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise KlusterConfigError(
                f"Cannot open the batch journal at {str(self.path)!r} ({exc}); point journal= or {JOURNAL_ENV} "
                "at a writable file, or pass journal=False."
            ) from exc
        self._lock = threading.Lock()
        with self._db:
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS runs (run_key TEXT PRIMARY KEY, base_url TEXT NOT NULL,
                    created_at REAL NOT NULL, finished_at REAL);
                CREATE TABLE IF NOT EXISTS chunks (run_key TEXT NOT NULL, chunk INTEGER NOT NULL,
                    file_id TEXT, batch_id TEXT, PRIMARY KEY (run_key, chunk));
                """
            )
            cutoff = time.time() - KEEP_FINISHED_DAYS * 86400
            self._db.execute(
                "DELETE FROM chunks WHERE run_key IN (SELECT run_key FROM runs WHERE finished_at < ?)", (cutoff,)
            )
            self._db.execute("DELETE FROM runs WHERE finished_at < ?", (cutoff,))

    def open_run(self, run_key: str, base_url: str) -> dict[int, JournalEntry]:
        """Start (or resume) a run; returns the chunks already uploaded/created by an unfinished run."""
        with self._lock, self._db:
            row = self._db.execute("SELECT finished_at FROM runs WHERE run_key = ?", (run_key,)).fetchone()
            if row is not None and row[0] is not None:  # finished: a deliberate re-run submits afresh
                self._db.execute("DELETE FROM chunks WHERE run_key = ?", (run_key,))
                self._db.execute("DELETE FROM runs WHERE run_key = ?", (run_key,))
                row = None
            if row is None:
                self._db.execute("INSERT INTO runs VALUES (?, ?, ?, NULL)", (run_key, base_url, time.time()))
                return {}
            rows = self._db.execute(
                "SELECT chunk, file_id, batch_id FROM chunks WHERE run_key = ?", (run_key,)
            ).fetchall()
        return {chunk: JournalEntry(chunk, file_id, batch_id) for chunk, file_id, batch_id in rows}

    def record(self, run_key: str, chunk: int, *, file_id: str | None = None, batch_id: str | None = None) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO chunks VALUES (?, ?, ?, ?) ON CONFLICT (run_key, chunk) DO UPDATE SET "
                "file_id = COALESCE(excluded.file_id, file_id), batch_id = COALESCE(excluded.batch_id, batch_id)",
                (run_key, chunk, file_id, batch_id),
            )

    def finish(self, run_key: str) -> None:
        """Results were delivered: the next run of the same input is a new run."""
        with self._lock, self._db:
            self._db.execute("UPDATE runs SET finished_at = ? WHERE run_key = ?", (time.time(), run_key))

    def close(self) -> None:
        self._db.close()
