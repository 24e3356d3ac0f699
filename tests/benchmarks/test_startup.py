"""Start-up cost a newcomer pays: `kluster-agents --version` against a plain typer CLI with a `--version`
option, and `kluster-agents emulate` to its first answer against a bare FastAPI + uvicorn app answering one
route (each started as a process, polled over a real socket until it answers). Targets: both <= 1.5x.

Each command runs in a fresh process, in interleaved rounds with its yardstick (`_timing.interleave`), so
drift and other load hit both alike; medians with the spread are printed. Both run as an installed package
does, with bytecode caches (pip writes them at install; with PYTHONDONTWRITEBYTECODE set, every start
would recompile every module it imports, which measures the compiler rather than the imports).
Run: uv run pytest -m benchmark -s tests/benchmarks/test_startup.py
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ._timing import compare, interleave

ROUNDS = 7
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
CLI = shutil.which("kluster-agents") or str(Path(sys.executable).with_name("kluster-agents"))

PLAIN_TYPER = """
import typer
app = typer.Typer()

def version(value: bool) -> None:
    if value:
        print("plain 1.0")
        raise typer.Exit()

@app.callback()
def root(version: bool = typer.Option(None, "--version", callback=version, is_eager=True)) -> None:
    "A plain typer CLI."

@app.command()
def hello() -> None:
    print("hello")

app()
"""

BARE_FASTAPI = """
import sys
import uvicorn
from fastapi import FastAPI

app = FastAPI()
app.get("/v1/models")(lambda: {"object": "list", "data": []})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _run(command: list[str]) -> Callable[[], None]:
    return lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)


def _answers(port: int) -> bool:
    """One GET /v1/models over a fresh socket; True once any HTTP status line comes back."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer emulator\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/1.1 ")
    except OSError:
        return False


def _first_answer(command: Callable[[int], list[str]], free_port: Callable[[], int]) -> Callable[[], None]:
    def run() -> None:
        port = free_port()
        process = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        try:
            deadline = time.monotonic() + 60
            while not _answers(port):
                assert process.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.005)
        finally:
            process.terminate()
            process.wait(10)

    return run


@pytest.mark.benchmark
def test_cli_version_against_a_plain_typer_cli(tmp_path: Path) -> None:
    plain = tmp_path / "plain_cli.py"
    plain.write_text(PLAIN_TYPER)
    samples = interleave(
        {
            "kluster-agents --version": _run([CLI, "--version"]),
            "plain typer --version": _run([sys.executable, str(plain), "--version"]),
        },
        rounds=ROUNDS,
    )
    comparison = compare(samples, "kluster-agents --version", "plain typer --version")
    print("\n" + comparison.describe())
    assert comparison.ratio <= 1.5


@pytest.mark.benchmark
def test_emulate_first_answer_against_a_bare_fastapi_app(tmp_path: Path, free_port: Callable[[], int]) -> None:
    bare = tmp_path / "bare_app.py"
    bare.write_text(BARE_FASTAPI)
    samples = interleave(
        {
            "kluster-agents emulate": _first_answer(
                lambda port: [CLI, "emulate", "--port", str(port), "--state", str(tmp_path / f"state-{port}")],
                free_port,
            ),
            "bare FastAPI app": _first_answer(lambda port: [sys.executable, str(bare), str(port)], free_port),
        },
        rounds=ROUNDS,
    )
    comparison = compare(samples, "kluster-agents emulate", "bare FastAPI app")
    print("\nfirst answer: " + comparison.describe())
    assert comparison.ratio <= 1.5
