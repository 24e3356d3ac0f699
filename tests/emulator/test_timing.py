"""Job timing modes: `fast` (the default) caps a job's duration while every status and event still
comes in order; `realistic` keeps the observed pace; `instant` finishes at the first read. Schedules
are asserted on a frozen emulated clock moved by hand, never on wall time."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace

import openai
import pytest

from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations.emulator._control.controls import (
    FAST_JOB_SECONDS,
    TIMING_ENV,
    EmulatorControls,
    JobTiming,
    resolve_timing,
)
from kluster_agents.integrations.emulator._server.server import Emulator

LLAMA = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
STEP = re.compile(r"Step (\d+)/(\d+): training loss=")


def _training_file(client: openai.OpenAI, examples: int) -> str:
    data = "\n".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]})
        for i in range(examples)
    )
    return client.files.create(file=("t.jsonl", io.BytesIO(data.encode())), purpose="fine-tune").id


def _events(emulator: Emulator, job_id: str) -> list[str]:
    """The job's event messages, oldest first."""
    return [e["message"] for e in reversed(emulator.runtime.finetunes.events(job_id))]


def test_fast_timing_caps_a_12000_step_fine_tuning_job_with_every_event_in_order(
    kluster_emulator: Emulator, client: openai.OpenAI
) -> None:
    """1,200 examples x 10 epochs at batch size 1 (the observed defaults): 12,000 steps, about 50 minutes
    at the observed 0.25 s a step, done within the cap instead."""
    controls = kluster_emulator.controls
    controls.set_timing("fast")
    controls.clock.freeze()
    job = client.fine_tuning.jobs.create(training_file=_training_file(client, 1200), model=LLAMA)
    controls.advance(FAST_JOB_SECONDS / 2)
    halfway = client.fine_tuning.jobs.retrieve(job.id)
    assert halfway.status == "running"
    controls.advance(FAST_JOB_SECONDS / 2 + 0.01)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.finished_at is not None and done.finished_at - done.created_at <= FAST_JOB_SECONDS

    messages = _events(kluster_emulator, job.id)
    assert messages[:3] == [
        f"Created fine-tuning job: {job.id}",
        "Files validated, moving job to queued state",
        "Fine-tuning job started",
    ]
    steps = [STEP.match(m) for m in messages[3:-3]]
    assert [int(s.group(1)) for s in steps if s] == list(range(1, 12001))
    assert all(s is not None and s.group(2) == "12000" for s in steps)
    assert messages[-3] == "Checkpoint created at step 12000"
    assert messages[-2].startswith("New fine-tuned model created: ft:")
    assert messages[-1] == "The job has successfully completed"


def test_realistic_timing_keeps_the_observed_step_pace(kluster_emulator: Emulator, client: openai.OpenAI) -> None:
    controls = kluster_emulator.controls
    controls.set_timing("realistic")
    controls.clock.freeze()
    job = client.fine_tuning.jobs.create(training_file=_training_file(client, 1200), model=LLAMA)
    stored = kluster_emulator.runtime.store.get("fine_tuning.job", job.id)
    assert stored is not None
    assert kluster_emulator.runtime.finetunes.schedule(stored) == (1.0, 1.0, 0.25)  # validating, queued, a step

    controls.advance(2 + 400 * 0.25)  # both waiting phases, then 400 steps
    running = client.fine_tuning.jobs.retrieve(job.id)
    assert running.status == "running"
    steps = [m for m in _events(kluster_emulator, job.id) if STEP.match(m)]
    assert len(steps) == 400 and steps[-1].startswith("Step 400/12000")
    controls.advance(11600 * 0.25 - 1)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"  # 50 minutes in all, not capped
    controls.advance(1.01)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded" and done.finished_at == done.created_at + 2 + 3000


@pytest.mark.parametrize("adaptive", [False, True], ids=["batch", "adaptive"])
def test_fast_timing_caps_batch_and_adaptive_jobs_realistic_does_not(
    kluster_emulator: Emulator, client: openai.OpenAI, adaptive: bool
) -> None:
    controls = kluster_emulator.controls
    controls.clock.freeze()
    slow_line = 3600.0  # an hour per line

    def submit() -> str:
        if adaptive:
            body = {"model": LLAMA, "messages": [{"role": "user", "content": "hi"}]}
            kluster_emulator.runtime.batches.submit_adaptive(body, {"async": True})
            return kluster_emulator.runtime.batches.list()[0]["id"]
        line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": LLAMA}}
        line["body"]["messages"] = [{"role": "user", "content": "hi"}]
        file_id = client.files.create(file=("b.jsonl", io.BytesIO(json.dumps(line).encode())), purpose="batch").id
        return client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id

    controls.set_timing(replace(JobTiming.for_mode("fast"), batch_per_line=slow_line))
    fast = submit()
    controls.advance(FAST_JOB_SECONDS / 2)
    assert client.batches.retrieve(fast).status == "in_progress"
    controls.advance(FAST_JOB_SECONDS / 2 + 0.01)
    done = client.batches.retrieve(fast)
    assert done.status == "completed" and done.completed_at is not None
    assert done.completed_at - done.created_at <= FAST_JOB_SECONDS

    controls.set_timing(replace(JobTiming.for_mode("realistic"), batch_per_line=slow_line))
    slow = submit()
    controls.advance(slow_line)
    assert client.batches.retrieve(slow).status == "in_progress"
    controls.advance(2)
    assert client.batches.retrieve(slow).status == "completed"


def test_instant_timing_finishes_at_the_first_read(kluster_emulator: Emulator, client: openai.OpenAI) -> None:
    kluster_emulator.controls.set_timing("instant")
    kluster_emulator.controls.clock.freeze()
    job = client.fine_tuning.jobs.create(training_file=_training_file(client, 50), model=LLAMA)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"


def test_the_environment_variable_picks_the_default_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMING_ENV, raising=False)
    assert EmulatorControls().timing == JobTiming.for_mode("fast")
    monkeypatch.setenv(TIMING_ENV, "instant")
    controls = EmulatorControls()
    assert controls.timing == JobTiming.instant()
    controls.set_timing("realistic")
    controls.reset()
    assert controls.timing == JobTiming.instant()  # reset goes back to the emulator's default
    assert EmulatorControls(timing="realistic").timing == JobTiming()  # an explicit choice wins
    monkeypatch.setenv(TIMING_ENV, "slow")
    with pytest.raises(KlusterConfigError, match=f"{TIMING_ENV}='slow'.*--timing or {TIMING_ENV}"):
        EmulatorControls()
    with pytest.raises(KlusterConfigError, match="timing 'slow'"):
        resolve_timing("slow")


def test_a_timing_changed_in_place_does_not_leak_into_the_next_reset() -> None:
    controls = EmulatorControls(timing="fast")
    controls.timing.batch_per_line = 7200.0
    controls.reset()
    assert controls.timing.batch_per_line == JobTiming().batch_per_line


def test_emulate_names_its_timing_and_refuses_an_unknown_one_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kluster_agents.integrations._cli.app import app
    from kluster_agents.integrations.emulator._server.emulate_command import banner

    monkeypatch.delenv(TIMING_ENV, raising=False)
    with Emulator() as fast, Emulator(timing="realistic") as realistic:
        assert f"timing   : fast (each job at most {FAST_JOB_SECONDS:g} s)" in banner(fast)
        assert "timing   : realistic" in banner(realistic)
    result = CliRunner().invoke(app, ["emulate", "--port", "0", "--timing", "slow"], env={"COLUMNS": "200"})
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--timing or KLUSTER_EMULATOR_TIMING" in lines[0] and "Traceback" not in result.output
