"""CLI errors speak to a CLI user: environment variables and flags instead of Python arguments,
input lines counted one way (1-based lines of the file); `--json` output with nothing on stderr;
`doctor --json`; a mistyped model in `chat` caught locally with a suggestion."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kluster_agents.integrations._cli import _common
from kluster_agents.integrations._cli.app import app

MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
PYTHON_ADVICE = ("api_key argument", "kluster_backend", "strict_models=", "pass the ")
pytestmark = pytest.mark.kluster_emulator(timing="instant")


def cli(*args: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would reach a CLI user's terminal
        return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def emu(kluster_emulator_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("KLUSTER_JOURNAL_PATH", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setattr(_common.err_console, "width", 400)
    monkeypatch.setattr(_common.console, "width", 400)
    return kluster_emulator_env


def _line(custom_id: str, model: str = MODEL) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def test_no_key_names_environment_variables_not_python_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KLUSTER_API_KEY", "KLUSTER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_common.err_console, "width", 400)
    result = cli("batch", "list")
    assert result.exit_code == 2
    assert "KLUSTER_API_KEY" in result.stderr and "kluster-agents emulate" in result.stderr
    assert not [advice for advice in PYTHON_ADVICE if advice in result.stderr], result.stderr


def test_unknown_model_in_a_batch_names_the_flag(emu: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(_line("a") + "\n" + _line("b", "acme/not-a-model") + "\n")
    result = cli("batch", "submit", str(source))
    assert result.exit_code == 2
    assert "--no-strict-models" in result.stderr, result.stderr
    assert not [advice for advice in PYTHON_ADVICE if advice in result.stderr], result.stderr
    assert f"Line 2 of {source}" in result.stderr  # not "Request 1"
    assert cli("batch", "submit", "--no-strict-models", str(source)).exit_code == 0


def test_requests_are_named_by_their_line_in_the_file(emu: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(_line("a") + "\n\n" + _line("a") + "\n")  # a blank line between: lines 1 and 3
    result = cli("batch", "submit", str(source))
    assert result.exit_code == 2
    assert f"Line 3 of {source} repeats custom_id 'a' (first used by line 1 of {source})" in result.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text(_line("a") + "\n\n{not json\n")
    assert f"{broken}, line 3: not valid JSON" in cli("batch", "submit", str(broken)).stderr


def test_batch_json_listings_print_no_serializer_warning(emu: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(_line("a") + "\n")
    assert cli("batch", "submit", str(source)).exit_code == 0
    listed = cli("batch", "list", "--json")
    assert listed.exit_code == 0 and "Warning" not in listed.stderr, listed.stderr
    (batch,) = json.loads(listed.stdout)
    status = cli("batch", "status", batch["id"], "--json")
    assert status.exit_code == 0 and "Warning" not in status.stderr, status.stderr
    assert json.loads(status.stdout)["id"] == batch["id"]


def test_doctor_json(emu: Any) -> None:
    result = cli("doctor", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["base_url"] == emu.base_url and report["api_key_set"] is True
    assert report["reachability"]["ok"] is True and report["emulator"] is True


def test_chat_suggests_the_catalog_name_before_any_request(emu: Any) -> None:
    before = emu.controls.count()
    result = cli("chat", "-m", MODEL[:-1], "hi")
    assert result.exit_code == 2
    assert f"did you mean {MODEL!r}?" in result.stderr, result.stderr
    assert emu.controls.count() == before
