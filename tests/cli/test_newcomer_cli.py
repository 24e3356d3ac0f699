"""A newcomer's first hour: the real `kluster-agents` entry point in a subprocess, 80
columns, no TTY — emulator detection, one "no key" message, no silent waits, batch surprises,
readable and `--json` listings, hints that print what the user must type."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from kluster_agents.integrations._api.settings import NO_API_KEY, KlusterSettings
from kluster_agents.integrations._backend import emulator_at, kluster_backend

CLI = shutil.which("kluster-agents") or str(Path(sys.executable).with_name("kluster-agents"))
ROOT = Path(__file__).resolve().parents[2]
MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"


_runner: Any = None


@pytest.fixture(autouse=True)
def _script_runner(script_runner: Any) -> None:
    global _runner
    _runner = script_runner


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed entry point script in a fresh process, 80 columns, stdin/stdout not a terminal,
    no KLUSTER_* but `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    base.update(COLUMNS="80", KLUSTER_JOURNAL_PATH=os.environ["KLUSTER_JOURNAL_PATH"], **(env or {}))
    base.pop("FORCE_COLOR", None)
    run = _runner.run({"cli": CLI}, args=args, env=base, cwd=cwd or Path.cwd(), timeout=120)["cli"]
    return subprocess.CompletedProcess([CLI, *args], run.returncode, run.stdout, run.stderr)


def fits_80(text: str) -> bool:
    return all(len(line.rstrip()) <= 80 for line in text.splitlines())


@pytest.fixture
def emu_env(kluster_emulator: Any) -> dict[str, str]:
    """What the `emulate` banner says to export."""
    return {"KLUSTER_BASE_URL": kluster_emulator.base_url, "KLUSTER_API_KEY": kluster_emulator.api_key}


# --- 1. emulator detection ------------------------------------------------------------------------


def test_kluster_backend_uses_the_emulator_at_the_base_url(kluster_emulator: Any) -> None:
    assert emulator_at(kluster_emulator.base_url)
    lines: list[str] = []
    before = kluster_emulator.controls.count()
    with kluster_backend(kluster_emulator.settings, announce=lines.append) as backend:
        assert backend.emulated and backend.emulator is None  # no second emulator: the user's one serves
        assert backend.settings.base_url == kluster_emulator.base_url
    assert lines == [
        f"Using the kluster emulator at {kluster_emulator.base_url} (emulated responses; KLUSTER_BASE_URL points at it)."
    ]
    assert kluster_emulator.controls.count() > before  # the detection probe reached it


def test_cli_says_when_the_base_url_is_an_emulator(emu_env: dict[str, str]) -> None:
    proc = run_cli("doctor", env=emu_env)
    assert proc.returncode == 0, proc.stderr
    assert "kluster emulator" in proc.stdout and "EMULATED" in proc.stderr
    assert fits_80(proc.stdout)


def test_no_emulator_is_claimed_for_kluster_itself_or_a_dead_port(free_port: Callable[[], int]) -> None:
    assert not emulator_at("https://api.kluster.ai/v1")  # never probed
    assert not emulator_at(f"http://127.0.0.1:{free_port()}/v1", timeout=1)


# --- 2. one "no key" message ----------------------------------------------------------------------


def test_every_no_key_error_names_both_ways_forward() -> None:
    assert "KLUSTER_API_KEY" in NO_API_KEY and "kluster-agents emulate" in NO_API_KEY
    assert "kluster_backend()" in NO_API_KEY
    with pytest.raises(Exception) as raised:
        KlusterSettings.load().require_api_key()
    assert str(raised.value) == NO_API_KEY  # nothing in it looks like a secret to redact
    proc = run_cli("chat", "hi")
    from kluster_agents.integrations._cli._common import for_cli

    assert proc.returncode == 2 and for_cli(NO_API_KEY) in proc.stderr  # the CLI's words for the same advice
    assert "kluster_backend" not in proc.stderr and "KLUSTER_API_KEY" in proc.stderr


def test_adapters_raise_the_same_no_key_message() -> None:
    langchain = pytest.importorskip("kluster_agents.adapters.langchain")
    pydantic_ai = pytest.importorskip("kluster_agents.adapters.pydantic_ai")
    with pytest.raises(Exception) as lc:
        langchain.ChatKluster(model=MODEL).invoke("hi")
    with pytest.raises(Exception) as pa:  # the key is read at the first request, as ChatKluster does
        from pydantic_ai import Agent

        Agent(pydantic_ai.kluster_model(MODEL)).run_sync("hi")
    assert str(lc.value) == str(pa.value) == NO_API_KEY


# --- 3. no silent waits ---------------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """Accepts connections and never answers: (port, the connections it accepted)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1]), held
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("kind", ["closed", "silent"])
def test_doctor_reports_an_unreachable_endpoint_once_without_retries(
    kind: str, request: pytest.FixtureRequest, free_port: Callable[[], int]
) -> None:
    connections: list[socket.socket] = []
    if kind == "closed":
        port = free_port()
    else:
        port, connections = request.getfixturevalue("silent_server")
    base_url = f"http://127.0.0.1:{port}/v1"
    env = {"KLUSTER_BASE_URL": base_url, "KLUSTER_API_KEY": "kl-some-key-0123456789"}
    start = time.monotonic()
    run_cli("doctor", "--no-check", env=env)
    start_up = time.monotonic() - start  # this machine's cost of starting the CLI at all
    start = time.monotonic()
    proc = run_cli("doctor", env=env)
    elapsed = time.monotonic() - start
    # the wait is bounded at 7 s (3 s connect + 4 s read) with no retries: the silent server is asked once
    # (a count, whatever the machine's load); the time bound only guards against a hang
    assert proc.returncode == 1 and elapsed - start_up < 30, (elapsed, start_up, proc.stdout, proc.stderr)
    if kind == "silent":
        assert len(connections) == 1, f"doctor retried: {len(connections)} connections"
    assert f"Checking {base_url}/models" in proc.stderr  # says what it tries
    assert "reachability" in proc.stdout and "failed" in proc.stdout and "kl-some-key" not in proc.stdout


# --- 4. batch CLI ---------------------------------------------------------------------------------


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("What is 2+2?\nName a colour.\nSay hi.\n")
    return path


def test_batch_resubmit_reattaches_and_wait_writes_a_default_file(
    emu_env: dict[str, str], prompts: Path, tmp_path: Path
) -> None:
    submit = ("batch", "submit", "--prompts", str(prompts), "-m", MODEL, "--poll-interval", "0.05")
    first = run_cli(*submit, env=emu_env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    batch_id = first.stdout.split("batch job(s): ")[1].split()[0]
    again = run_cli(*submit, "--wait", env=emu_env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"re-attached to batch {batch_id}" in again.stdout and "Submitted" not in again.stdout
    default = tmp_path / f"batch-results-{batch_id}.jsonl"
    assert f"Results in {default.name}" in again.stdout
    assert [json.loads(line)["status"] for line in default.read_text().splitlines()] == ["succeeded"] * 3


def test_batch_output_implies_wait_and_unfinished_lines_exit_1(
    kluster_emulator: Any, emu_env: dict[str, str], prompts: Path, tmp_path: Path
) -> None:
    kluster_emulator.controls.set_timing("realistic")  # uncapped: fast timing ends any job within seconds
    kluster_emulator.controls.timing.batch_per_line = 3600.0  # 1 h per line: a 1 h window finishes none
    kluster_emulator.controls.clock.set_speed(3600 / 0.5)  # ... and the window passes in half a second
    out = tmp_path / "out.jsonl"
    proc = run_cli(
        *("batch", "submit", "--prompts", str(prompts), "-m", MODEL, "--completion-window", "1h"),
        *("-o", str(out), "--poll-interval", "0.05", "--no-journal"),
        env=emu_env,
    )
    assert "implies --wait" in proc.stderr or "as with --wait" in proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert "3 expired of 3 requests did not succeed" in proc.stderr
    assert len(out.read_text().splitlines()) == 3


# --- 5. 80 columns, plain when piped, --json ------------------------------------------------------


def test_listings_fit_80_columns_and_show_aliases() -> None:
    proc = run_cli("models")
    assert proc.returncode == 0 and fits_80(proc.stdout)
    assert "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8" in proc.stdout  # whole ids, not "…"
    assert "llama-3.3-70b" in proc.stdout and "…" not in proc.stdout
    assert "\x1b[" not in proc.stdout and "┃" not in proc.stdout and "│" not in proc.stdout  # plain when piped
    recipes = run_cli("recipes", "list", cwd=ROOT)
    assert recipes.returncode == 0 and fits_80(recipes.stdout) and "langchain/" in recipes.stdout


def test_every_listing_and_status_command_has_json(emu_env: dict[str, str], prompts: Path, tmp_path: Path) -> None:
    models = json.loads(run_cli("models", "--json").stdout)
    assert any("llama-3.3-70b" in m["aliases"] for m in models)
    recipes = json.loads(run_cli("recipes", "list", "--json", cwd=ROOT).stdout)
    assert {"name", "summary"} <= set(recipes[0])
    submitted = run_cli("batch", "submit", "--prompts", str(prompts), "-m", MODEL, env=emu_env, cwd=tmp_path)
    batch_id = submitted.stdout.split("batch job(s): ")[1].split()[0]
    _wait_until_completed(emu_env, batch_id)
    listed = json.loads(run_cli("batch", "list", "--json", env=emu_env).stdout)
    assert batch_id in [b["id"] for b in listed]
    status = json.loads(run_cli("batch", "status", batch_id, "--json", env=emu_env).stdout)
    assert status["id"] == batch_id and "request_counts" in status
    table = run_cli("batch", "status", batch_id, env=emu_env)
    assert fits_80(table.stdout) and batch_id in table.stdout and "3 done, 0 failed, 3 total" in table.stdout
    listing = run_cli("batch", "list", env=emu_env)
    assert fits_80(listing.stdout) and batch_id in listing.stdout and "completed" in listing.stdout
    assert json.loads(run_cli("finetune", "list", "--json", env=emu_env).stdout) == []
    mcp = json.loads(run_cli("mcp", "status", "--json", env=emu_env).stdout)
    assert set(mcp) == {"enabled", "url", "token"}


def _wait_until_completed(emu_env: dict[str, str], batch_id: str, timeout: float = 30) -> None:
    client = openai.OpenAI(base_url=emu_env["KLUSTER_BASE_URL"], api_key=emu_env["KLUSTER_API_KEY"])
    deadline = time.monotonic() + timeout
    while client.batches.retrieve(batch_id).status != "completed":
        assert time.monotonic() < deadline, f"batch {batch_id} did not complete in {timeout} s"
        time.sleep(0.05)


def test_finetune_status_json(kluster_emulator: Any, emu_env: dict[str, str], tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(10)
    ]
    training = tmp_path / "train.jsonl"
    training.write_text("".join(json.dumps(row) + "\n" for row in rows))
    created = run_cli("finetune", "create", str(training), "-m", MODEL, env=emu_env)
    assert created.returncode == 0, created.stderr
    job_id = created.stdout.split("fine-tuning job ")[1].split()[0]
    job = json.loads(run_cli("finetune", "status", job_id, "--json", env=emu_env).stdout)
    assert job["id"] == job_id and job["status"]
    listing = run_cli("finetune", "list", env=emu_env)
    assert job_id in listing.stdout and fits_80(listing.stdout)  # full ids


# --- 6. hints that print what the user must type --------------------------------------------------


def test_markup_like_hints_are_printed_verbatim() -> None:
    from kluster_agents.integrations._api.errors import KlusterConfigError

    assert "token=." in str(KlusterConfigError("pass the MCP token as token=."))
    assert "token=***" in str(KlusterConfigError("token=abc123"))  # a real value is still redacted
    doctor = run_cli("doctor", "--no-check")
    assert "extra [langchain]" in doctor.stdout
    proc = run_cli("litellm-config", "--model", "nosuch")
    assert proc.returncode == 2 and "nosuch" in proc.stderr and proc.stdout == ""


def test_missing_extra_hint_keeps_the_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kluster_agents.integrations._api import extras
    from kluster_agents.integrations._cli.app import app

    monkeypatch.setattr(extras, "installed_extras", lambda: {"litellm": None})
    result = CliRunner().invoke(app, ["doctor", "--no-check"], env={"COLUMNS": "120"})
    assert 'pip install "kluster-agents[litellm]"' in result.stdout
