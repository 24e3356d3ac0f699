"""A small local journal of submitted batch runs, so a crashed run resumes instead of paying twice.

Each run is keyed by a hash of its normalised input lines + base URL + options; per chunk it
records the uploaded file id and the created batch id as soon as the server returns them.
Re-running the same input finds them and re-attaches, finished runs included (for
`KEEP_FINISHED_DAYS`): a process killed after `run_batch()` returned, before it used the results,
must not pay for the same jobs again on its rerun; the results come back from the finished jobs.
To submit the same input afresh on purpose, pass `journal=False`. Location: `KLUSTER_JOURNAL_PATH`,
else `~/.cache/kluster-agents/journal.sqlite3`.

A run's local work files (the prompts, then the answers) live next to the journal, in a private
(0700) `batch-work` directory, one `kluster-batch-<host>-<pid>-*` folder per run: they are deleted
when the run's handle and results are closed, collected or the interpreter exits, and the folders of
processes that died without cleaning up (kill -9, SIGTERM) are removed by the next run on that host.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kluster_agents.integrations._api.errors import KlusterConfigError

JOURNAL_ENV = "KLUSTER_JOURNAL_PATH"
KEEP_FINISHED_DAYS = 30
# What to do when the journal's disk is full (the jobs are not lost: the same input re-attaches).
JOURNAL_ADVICE = (
    "Free space there, or point journal= (KLUSTER_JOURNAL_PATH) at a disk with room, or pass journal=False; "
    "re-running the same input re-attaches to any job already submitted."
)


def default_journal_path() -> Path:
    configured = os.environ.get(JOURNAL_ENV)
    if configured:
        return Path(configured).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "kluster-agents" / "journal.sqlite3"


WORK_DIR_NAME = "batch-work"
WORK_PREFIX = "kluster-batch-"


def _work_root(journal: Path | None) -> Path:
    root = (journal or default_journal_path()).expanduser().parent / WORK_DIR_NAME
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if root.stat().st_uid == os.getuid() and root.stat().st_mode & 0o077:
        root.chmod(0o700)  # an older or hand-made folder: the prompts are nobody else's business
    return root


def _host_tag() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_dead_workdirs(root: Path) -> list[Path]:
    """Delete the work folders this host's dead processes left in `root`; returns them."""
    prefix = f"{WORK_PREFIX}{_host_tag()}-"
    removed = []
    for path in root.glob(f"{prefix}*"):
        pid_text = path.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _alive(int(pid_text)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def new_workdir(journal: str | Path | None = None) -> Path:
    """A private folder for one run's local files, next to the journal at `journal` (default: the
    user's), leftovers of dead runs removed first."""
    root = _work_root(Path(journal) if journal is not None else None)
    remove_dead_workdirs(root)
    return Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{_host_tag()}-{os.getpid()}-", dir=root))


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
        """Start (or resume) a run; returns the chunks an earlier run of it already uploaded/created,
        finished or not (the caller of a finished run may have died before it used the results)."""
        with self._lock, self._db:
            row = self._db.execute("SELECT finished_at FROM runs WHERE run_key = ?", (run_key,)).fetchone()
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
        """Results were delivered: kept `KEEP_FINISHED_DAYS` for reruns of the same input to re-attach."""
        with self._lock, self._db:
            self._db.execute("UPDATE runs SET finished_at = ? WHERE run_key = ?", (time.time(), run_key))

    def close(self) -> None:
        self._db.close()
