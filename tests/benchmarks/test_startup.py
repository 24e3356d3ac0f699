"""Start-up cost a newcomer pays on every command: `kluster-agents --version` / `--help` against
`python -c "import openai"` (target: under half), and the emulator's first answer against a bare
uvicorn app's (target: within 4x; printed, not asserted: the emulator's start-up is its own area).

Each command runs in a fresh process, alternating with its yardstick so drift hits both alike;
the medians of the paired ratios are printed.
Run: uv run pytest -m benchmark tests/benchmarks/test_startup.py -s
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUNS = 7
CLI = shutil.which("kluster-agents") or str(Path(sys.executable).with_name("kluster-agents"))

# A process that starts a server in a thread, asks it one GET and exits: the cost a test session,
# a recipe or `demo` pays before its first answer.
FIRST_ANSWER = """
import sys, httpx
if sys.argv[1] == "emulator":
    from kluster_agents.integrations.emulator import Emulator
    server = Emulator().start()
    url, headers = server.base_url + "/models", {"Authorization": "Bearer " + server.api_key}
else:
    import socket, threading, uvicorn
    from fastapi import FastAPI
    app = FastAPI()
    app.get("/v1/models")(lambda: {"object": "list", "data": []})
    sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        pass
    url, headers = "http://127.0.0.1:%d/v1/models" % sock.getsockname()[1], {}
assert httpx.get(url, headers=headers).status_code == 200
"""


def _seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _paired(command: list[str], yardstick: list[str]) -> tuple[float, float, float]:
    """Median seconds of each, and the median of the per-pair ratios (after one warm-up each)."""
    _seconds(command), _seconds(yardstick)
    ours, theirs = [], []
    for _ in range(RUNS):
        ours.append(_seconds(command))
        theirs.append(_seconds(yardstick))
    ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
    return statistics.median(ours), statistics.median(theirs), ratio


@pytest.mark.benchmark
def test_cli_start_up_against_import_openai() -> None:
    import_openai = [sys.executable, "-c", "import openai"]
    lines = []
    ratios = {}
    for flag in ("--version", "--help"):
        ours, theirs, ratio = _paired([CLI, flag], import_openai)
        ratios[flag] = ratio
        lines.append(
            f"kluster-agents {flag}: {ours * 1000:.0f} ms; import openai: {theirs * 1000:.0f} ms; ratio {ratio:.2f}"
        )
    print("\n" + "\n".join(lines))
    assert ratios["--version"] < 0.5


@pytest.mark.benchmark
def test_emulator_first_answer_against_bare_uvicorn() -> None:
    ours, theirs, ratio = _paired(
        [sys.executable, "-c", FIRST_ANSWER, "emulator"], [sys.executable, "-c", FIRST_ANSWER, "bare"]
    )
    print(
        f"\nemulator first answer: {ours * 1000:.0f} ms; bare uvicorn app: {theirs * 1000:.0f} ms; "
        f"ratio {ratio:.2f} (target < 4)"
    )
