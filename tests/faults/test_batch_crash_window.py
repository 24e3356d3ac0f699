"""A process killed around `run_batch()`'s return: its rerun pays for nothing twice and no prompt
text is left behind.

Each crash runs in a child process that ends with `os._exit` (no `finally`, no atexit, like kill -9)
against the emulator; the parent then reruns the same input with the same journal.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kluster_agents.integrations._jobs.batch.run import run_batch
from kluster_agents.integrations._jobs.journal import WORK_DIR_NAME, WORK_PREFIX
from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import MODEL

pytestmark = pytest.mark.kluster_emulator(timing="instant")

SECRET_PROMPT = "the launch code is 0000"
REQUESTS = [
    {"custom_id": f"q{i}", "model": MODEL, "messages": [{"role": "user", "content": f"{SECRET_PROMPT} #{i}"}]}
    for i in range(4)
]

# `when`: "returned" dies right after run_batch() returned (the results unused), "collecting" while the
# results of the finished jobs are being read, "submitted" once the jobs exist, before any result.
CHILD = textwrap.dedent(
    """
    import json, os, sys
    from kluster_agents.integrations._api.settings import KlusterSettings
    from kluster_agents.integrations._jobs.batch.handle import BatchHandle
    from kluster_agents.integrations._jobs.batch.run import run_batch

    base_url, api_key, journal, when, requests = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
    settings = KlusterSettings(base_url=base_url, api_key=api_key, warn_on_drop=False)
    if when == "collecting":
        BatchHandle._collect = lambda self, job: os._exit(0)
    if when == "submitted":
        BatchHandle._wait_until = lambda self, *a, **k: os._exit(0)
    results = run_batch(requests, settings=settings, journal=journal, poll_interval=0.2)
    with open(journal + ".answers.json", "w") as out:
        json.dump([r.unwrap().choices[0].message.content for r in results], out)
    os._exit(0)
    """
)


def _crash(emulator: Emulator, journal: Path, when: str) -> None:
    argv = [sys.executable, "-c", CHILD, emulator.base_url, emulator.api_key, str(journal), when, json.dumps(REQUESTS)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr


def _answers(results: list) -> list[str]:
    return [r.unwrap().choices[0].message.content for r in results]


def _files_with_prompts(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and SECRET_PROMPT.encode() in p.read_bytes()]


@pytest.mark.parametrize("when", ["returned", "collecting", "submitted"])
def test_a_rerun_after_a_crash_never_submits_again(kluster_emulator: Emulator, tmp_path: Path, when: str) -> None:
    journal = tmp_path / "journal.sqlite3"
    _crash(kluster_emulator, journal, when)
    controls = kluster_emulator.controls
    assert controls.count("/batches", method="POST") == 1

    results = run_batch(REQUESTS, settings=kluster_emulator.settings, journal=journal, poll_interval=0.2)
    assert controls.count("/batches", method="POST") == 1  # re-attached: nothing submitted or billed twice
    assert controls.count("/files", method="POST") == 1
    assert all(r.ok for r in results)
    if when == "returned":  # the answers the dead process had are the ones the rerun gets
        assert _answers(results) == json.loads(Path(f"{journal}.answers.json").read_text())
    results.close()


def test_a_killed_run_leaves_its_prompts_only_in_a_private_place_until_the_next_run(
    kluster_emulator: Emulator, tmp_path: Path
) -> None:
    journal = tmp_path / "runs" / "journal.sqlite3"
    journal.parent.mkdir()
    _crash(kluster_emulator, journal, "submitted")
    work = journal.parent / WORK_DIR_NAME  # next to the journal the run was given
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    left = list(work.glob(f"{WORK_PREFIX}*"))
    assert left and all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in left)

    with run_batch(REQUESTS, settings=kluster_emulator.settings, journal=journal, poll_interval=0.2) as results:
        assert all(r.ok for r in results)
        assert not any(p.exists() for p in left)  # the dead process's folder is gone
    assert _files_with_prompts(work) == []
    assert list(work.iterdir()) == []
