"""The emulator's temporary state directory goes away on every stop short of SIGKILL, and a new
emulator removes the directories of dead ones. Real subprocesses, each with its own temp folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kluster_agents.integrations.emulator._state.store import PID_FILE, TEMP_PREFIX, remove_stale_dirs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
STARTED = "EMULATOR-STARTED"
TIMEOUT = 240.0  # a bound for hangs, not a speed check: a loaded 2-core machine starts interpreters slowly

HOLDER = textwrap.dedent(
    f"""
    import sys, time
    from kluster_agents.integrations.emulator import Emulator

    emulator = Emulator().start()
    print("{STARTED}", emulator.base_url, flush=True)
    if sys.argv[1] == "wait":
        time.sleep(120)
    """
)


def _env(tmp: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}, "TMPDIR": str(tmp)}


def _state_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob(f"{TEMP_PREFIX}*"))


def _started(proc: subprocess.Popen[str], marker: str) -> None:
    """Read the process's output until `marker` (the emulator serves from then on)."""
    deadline = time.monotonic() + TIMEOUT
    assert proc.stdout is not None
    for line in proc.stdout:
        if marker in line:
            return
        assert time.monotonic() < deadline, "the emulator did not start"
    raise AssertionError(f"the process ended before {marker!r}: exit {proc.wait()}")


def _spawn(args: list[str], tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(args, env=_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_emulate_command_removes_its_state_when_stopped(tmp_path: Path, sig: signal.Signals) -> None:
    cli = [sys.executable, "-m", "kluster_agents.integrations._cli"]
    proc = _spawn([*cli, "emulate", "--port", "0", "--quiet"], tmp_path)
    try:
        _started(proc, "Point clients at it")
        (state,) = _state_dirs(tmp_path)
        assert (state / PID_FILE).read_text() == str(proc.pid)
        proc.send_signal(sig)
        proc.wait(TIMEOUT)
    finally:
        proc.kill()
    assert _state_dirs(tmp_path) == []


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "normal exit"])
def test_an_emulator_in_a_script_removes_its_state_however_the_script_ends(tmp_path: Path, how: str) -> None:
    proc = _spawn([sys.executable, "-c", HOLDER, "exit" if how == "normal exit" else "wait"], tmp_path)
    try:
        _started(proc, STARTED)
        if how != "normal exit":
            assert len(_state_dirs(tmp_path)) == 1
            proc.send_signal(getattr(signal, how))
        proc.wait(TIMEOUT)
    finally:
        proc.kill()
    assert _state_dirs(tmp_path) == []


def test_a_pytest_run_stopped_with_sigterm_leaves_no_state(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            f"""
            import time

            def test_waits(kluster_emulator):
                print("{STARTED}", flush=True)
                time.sleep(120)
            """
        )
    )
    args = [sys.executable, "-m", "pytest", "-s", "-q", "-n", "0", "-p", "no:cacheprovider", "test_user.py"]
    proc = _spawn(args, tmp_path)
    try:
        _started(proc, STARTED)
        assert len(_state_dirs(tmp_path)) == 1
        proc.send_signal(signal.SIGTERM)
        proc.wait(TIMEOUT)
    finally:
        proc.kill()
    assert _state_dirs(tmp_path) == []


def test_a_new_emulator_removes_the_state_of_dead_ones_only(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        for name, owner in (("dead", str(dead.pid)), ("alive", str(alive.pid)), ("unreadable", "?")):
            (tmp_path / f"{TEMP_PREFIX}{name}").mkdir()
            (tmp_path / f"{TEMP_PREFIX}{name}" / PID_FILE).write_text(owner)
        (tmp_path / f"{TEMP_PREFIX}no-pid-file").mkdir()
        assert remove_stale_dirs(tmp_path) == [tmp_path / f"{TEMP_PREFIX}dead"]
        assert [p.name for p in _state_dirs(tmp_path)] == [
            f"{TEMP_PREFIX}alive",
            f"{TEMP_PREFIX}no-pid-file",
            f"{TEMP_PREFIX}unreadable",
        ]
    finally:
        alive.kill()
        alive.wait()


def test_starting_an_emulator_sweeps_dead_leftovers(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f"{TEMP_PREFIX}leftover"
    leftover.mkdir()
    (leftover / PID_FILE).write_text(str(dead.pid))
    proc = _spawn([sys.executable, "-c", HOLDER, "exit"], tmp_path)
    assert proc.wait(TIMEOUT) == 0
    assert not leftover.exists()
