"""`batch` and `finetune` commands, mounted on a local typer app, against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kluster_agents.integrations._cli import _common
from kluster_agents.integrations._cli.batch import batch_app
from kluster_agents.integrations._cli.finetune import finetune_app
from kluster_agents.integrations._jobs.batch.handle import BatchHandle

from .conftest import MODEL, chat

# Engine tests: emulated jobs finish at their first read (observed-like timing: tests/fidelity).
pytestmark = pytest.mark.kluster_emulator(timing="instant")

app = typer.Typer()
app.add_typer(batch_app, name="batch")
app.add_typer(finetune_app, name="finetune")
runner = CliRunner()


def cli(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


@pytest.fixture
def emu(kluster_emulator_env, tmp_path, monkeypatch):
    monkeypatch.setenv("KLUSTER_JOURNAL_PATH", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setattr(_common.console, "width", 200)
    return kluster_emulator_env


@pytest.fixture
def prompts(tmp_path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("What is 2+2?\n\nName a colour.\nSay hi.\n")
    return path


def test_submit_prompts_wait_and_write_results(emu, prompts, tmp_path):
    out = tmp_path / "out.jsonl"
    result = cli(
        "batch",
        "submit",
        "--prompts",
        str(prompts),
        "--model",
        MODEL,
        "--wait",
        "-o",
        str(out),
        "--poll-interval",
        "0.01",
    )
    assert result.exit_code == 0, result.output
    assert "Submitted 3 requests as 1 batch job(s)" in result.output and "Done: 3 succeeded" in result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == [0, 1, 2] and all(line["response"]["choices"] for line in lines)


def test_submit_jsonl_then_status_results_list_cancel(emu, tmp_path):
    file = tmp_path / "requests.jsonl"
    file.write_text("".join(json.dumps(chat(i, custom_id=f"c{i}")) + "\n" for i in range(4)))
    emu.controls.set_timing("realistic")  # on a frozen clock the job stays in its first status
    emu.controls.clock.freeze()
    submitted = cli("batch", "submit", str(file))
    assert submitted.exit_code == 0, submitted.output
    batch_id = submitted.output.split("batch job(s): ")[1].split()[0]
    assert "batch status" in submitted.output

    status = cli("batch", "status", batch_id)
    assert batch_id in status.output and "pre_schedule" in status.output  # the observed first status

    early = cli("batch", "results", batch_id)
    assert early.exit_code == 2 and "add --wait" in early.output

    assert batch_id in cli("batch", "list").output
    cancelled = cli("batch", "cancel", batch_id)
    assert f"Batch {batch_id}: cancelling" in cancelled.output

    emu.controls.clock.set_speed(3600 / 0.01)
    out = tmp_path / "raw.jsonl"
    fetched = cli("batch", "results", batch_id, "--wait", "-o", str(out), "--poll-interval", "0.01")
    assert fetched.exit_code == 0, fetched.output
    assert "(cancelled): 0 output and 4 error lines" in fetched.output
    assert {json.loads(line)["custom_id"] for line in out.read_text().splitlines()} == {"c0", "c1", "c2", "c3"}


def test_results_to_stdout_is_pure_jsonl(emu, prompts):
    submitted = cli("batch", "submit", "--prompts", str(prompts), "--model", MODEL)
    batch_id = submitted.output.split("batch job(s): ")[1].split()[0]
    fetched = runner.invoke(app, ["batch", "results", batch_id, "--wait", "--poll-interval", "0.01"])
    lines = [line for line in fetched.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 3 and all(json.loads(line)["response"]["status_code"] == 200 for line in lines)


def test_bad_input_is_one_line_on_stderr_and_exit_2(emu, tmp_path):
    file = tmp_path / "bad.jsonl"
    file.write_text(json.dumps(chat(0)) + "\n" + json.dumps(chat(1, n=4)) + "\n")
    result = cli("batch", "submit", str(file))
    assert result.exit_code == 2 and f"Error: Line 2 of {file} (custom_id 'auto-1'): `n`" in result.output
    assert emu.controls.count("/files", "POST") == 0
    assert cli("batch", "submit", "--prompts", str(file)).exit_code == 2  # --prompts needs --model


def test_ctrl_c_leaves_the_job_running_and_says_how_to_reattach(emu, prompts, monkeypatch):
    emu.controls.clock.freeze()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(BatchHandle, "wait", interrupted)
    result = cli("batch", "submit", "--prompts", str(prompts), "--model", MODEL, "--wait")
    assert result.exit_code == 130
    assert "still running" in result.output
    assert "kluster-agents batch results" in result.output and "--wait" in result.output
    assert not [r for r in emu.controls.requests if r.path.endswith("/cancel")]  # nothing was cancelled


def test_finetune_commands(emu, tmp_path):
    train = tmp_path / "train.jsonl"
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    train.write_text((json.dumps(row) + "\n") * 10)
    created = cli(
        "finetune",
        "create",
        str(train),
        "--model",
        "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo",
        "--nickname",
        "cli",
        "--epochs",
        "1",
        "--wait",
        "--poll-interval",
        "0.01",
    )
    assert created.exit_code == 0, created.output
    assert "Created fine-tuning job" in created.output and "succeeded" in created.output
    assert "Use it: model='ft:" in created.output
    job_id = created.output.split("Created fine-tuning job ")[1].split()[0]
    assert "succeeded" in cli("finetune", "status", job_id).output
    assert job_id in cli("finetune", "list").output
    assert cli("finetune", "cancel", job_id).exit_code == 1  # finished jobs cannot be cancelled (409)


def test_finetune_validation_errors_name_lines(emu, tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text('{"messages": []}\n')
    result = cli("finetune", "create", str(train), "--model", "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo")
    assert result.exit_code == 2 and "line 1: 'messages' must be a non-empty list" in result.output
