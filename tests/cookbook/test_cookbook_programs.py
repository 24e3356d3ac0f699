"""The vendor's cookbook notebooks (kluster-ai/klusterai-cookbook) as programs, run against the
emulator in its default (observed) fidelity mode: unchanged but for base URL and key (see each
program's header). Each runs in a subprocess in its own working directory, with
KLUSTER_BASE_URL/KLUSTER_API_KEY pointing at the emulator and stand-ins (tests/cookbook/shims)
for notebook packages this project does not install. Job timing is `instant` because the programs
poll with `time.sleep(10)`; the observed timing (a non-terminal status first) is covered by the
fidelity tests.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kluster_agents.integrations.emulator._control.controls import FAST_JOB_SECONDS

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
SHIMS = HERE / "shims"
TIMEOUT = 240.0  # a bound for hangs, not a speed check: a loaded 2-core machine starts interpreters slowly


def _ag_news(cwd: Path) -> None:
    # multi_task_batch reads data/ag_news.csv when it exists instead of downloading it (its own cache).
    (cwd / "data").mkdir()
    with (cwd / "data" / "ag_news.csv").open("w", newline="") as f:
        csv.writer(f).writerows(
            [
                ["3", "Wall St. Bears Claw Back Into the Black", "Short-sellers are seeing green again."],
                ["4", "New Probe Heads to Mars", "The lander will study the planet's crust."],
                ["2", "Underdogs Win the Final", "A late goal settled the cup final."],
                ["1", "Talks Resume in Geneva", "Diplomats met again on Monday."],
            ]
        )


def _phrasebank(cwd: Path, *, rows_wanted: int = 10) -> None:
    rows = [
        ("neutral", "According to Gran , the company has no plans to move all production to Russia ."),
        ("positive", "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn ."),
        ("negative", "Sales in Finland decreased by 10.5 % in January ."),
        ("neutral", "The company is based in Helsinki ."),
        ("positive", "Net sales increased by 18.5 % to EUR 167.8 mn ."),
        ("negative", "The company laid off tens of employees from its Tallinn facility ."),
        ("neutral", "The contract covers the supply of equipment ."),
        ("positive", "Orders received grew by 30 % ."),
        ("negative", "Pre-tax loss totalled EUR 0.3 mn ."),
        ("neutral", "The shares will be listed on the main market ."),
    ]
    with (cwd / "financial-phrasebank.csv").open("w", encoding="ISO-8859-1", newline="") as f:
        csv.writer(f).writerows((rows * (rows_wanted // len(rows) + 1))[:rows_wanted])


@dataclass(frozen=True)
class Program:
    name: str
    expect: tuple[str, ...]  # lines or fragments the program prints when it worked
    prepare: Callable[[Path], None] | None = None


CASES = [
    Program(
        "batch_classification",
        (
            "File uploaded successfully. File ID: ",
            "Batch job created:",
            '"status": "pre_schedule"',
            "Extracted Responses:",
        ),
    ),
    Program(
        "tool_use",
        ('"finish_reason": "tool_calls"', '"name": "calculator"'),
    ),
    Program(
        "uploads_api",
        (
            "Created upload with ID: ",
            "Part 2/2 uploaded with ID: ",
            "Upload completed successfully!",
            "Status: completed",
            "Batch job created with ID: ",
            "Retrieved 1000 results",
            "Result 5 (Custom ID: sample-4):",
            "Parallel upload demonstration completed!",
        ),
    ),
    Program(
        "multi_task_batch",
        (
            "Using cached file at data/ag_news.csv",
            "Batch job created with ID ",
            "'Job completed!'",
            "Inference ID: keyword_extraction-2.",
        ),
        prepare=_ag_news,
    ),
    Program(
        "reliability_check",
        (
            "=== General Knowledge Verification Example 1 ===",
            "Is Unreliable: True",
            "Is Unreliable: False",
            "=== Context Validation Example 3 ===",
            "#Run 2 - Wrong Answer",
            # The live service answered the notebook's chat-completions check with HTTP 500 (tests/fidelity/observed.py);
            # the notebook catches it and reports no processed conversations.
            "Error processing chat example: Error code: 500",
            "Processed 0 chat conversations",
        ),
    ),
    Program(
        "fine_tuning",
        (
            "The amount of data points for training: 3",
            "Fine-tuning job created:",
            '"n_epochs": 10',
            "'Job completed!'",
            "fine_tuning/batch_job_Llama3.1-8B-FineTuned_request.jsonl",
            "Batch job created with ID ",
        ),
        prepare=_phrasebank,
    ),
]


NOTEBOOK_PACKAGES = ("pandas", "IPython", "matplotlib", "sklearn")


def _pythonpath() -> str:
    """Stand-ins only for the notebook packages that are not installed."""
    missing = [p for p in NOTEBOOK_PACKAGES if importlib.util.find_spec(p) is None]
    return os.pathsep.join(str(SHIMS / p) for p in missing)


def _run(name: str, emulator: Any, cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KLUSTER_", "OPENAI_"))},
        "KLUSTER_BASE_URL": emulator.base_url,
        "KLUSTER_API_KEY": emulator.api_key,
        "PYTHONPATH": _pythonpath(),
        "PYTHONIOENCODING": "utf-8",
    }
    return subprocess.run(
        [sys.executable, str(PROGRAMS / f"{name}.py")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("program", CASES, ids=[c.name for c in CASES])
def test_cookbook_program_runs_against_the_emulator(program: Program, kluster_emulator, tmp_path: Path) -> None:
    kluster_emulator.controls.set_timing("instant")
    if program.prepare:
        program.prepare(tmp_path)
    done = _run(program.name, kluster_emulator, tmp_path)
    output = done.stdout
    assert done.returncode == 0, f"{program.name} exited {done.returncode}\n{output[-3000:]}\n{done.stderr[-3000:]}"
    print(output)  # shown with `pytest -s`
    missing = [line for line in program.expect if line not in output]
    assert not missing, f"{program.name} did not print {missing}\n{output[-3000:]}"


@pytest.mark.slow
@pytest.mark.kluster_emulator(timing="fast")
def test_the_fine_tuning_program_finishes_within_the_fast_cap_with_every_event_in_order(
    kluster_emulator, tmp_path: Path
) -> None:
    """The program's full slice (1,500 rows: 450 training examples x 10 epochs = 4,500 steps, about 19
    minutes at the observed pace) on the default timing: each job within the cap, so the program's
    10-second polls end after a few rounds: 36 s of wall time measured at load 5 on 2 cores, mostly the
    program's own sleeps, so the minute a new user is promised holds with room under load."""
    _phrasebank(tmp_path, rows_wanted=1500)
    started = time.monotonic()
    done = _run("fine_tuning", kluster_emulator, tmp_path, timeout=150)
    wall = time.monotonic() - started
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert wall < 60, f"the fine-tuning program took {wall:.0f} s on the default timing"
    assert "'Job completed!'" in done.stdout

    runtime = kluster_emulator.runtime
    (job,) = runtime.finetunes.list()
    assert job["status"] == "succeeded" and job["finished_at"] - job["created_at"] <= FAST_JOB_SECONDS
    messages = [e["message"] for e in reversed(runtime.finetunes.events(job["id"]))]
    steps = [m.split(":")[0] for m in messages[3:-3]]
    assert steps == [f"Step {k}/4500" for k in range(1, 4501)]
    assert messages[:3] == [
        f"Created fine-tuning job: {job['id']}",
        "Files validated, moving job to queued state",
        "Fine-tuning job started",
    ]
    assert (
        messages[-3:-2] == ["Checkpoint created at step 4500"] and messages[-1] == "The job has successfully completed"
    )
    batches = runtime.batches.list()
    assert len(batches) == 3 and {b["status"] for b in batches} == {"completed"}
    assert all(b["completed_at"] - b["created_at"] <= FAST_JOB_SECONDS for b in batches)
