"""One batch job for one input, however many worker processes submit it: real processes against the
emulator, each with its own journal (as on separate machines). Workers that race create a job each;
each then adopts the earliest and cancels its own duplicate, so one job runs and every worker gets its
results; a worker killed after submitting is replaced by one elsewhere that re-attaches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kluster_agents.integrations._api.client import make_client
from kluster_agents.integrations._jobs.batch.create import CHUNK_METADATA_KEY, RUN_METADATA_KEY, reconcile
from kluster_agents.integrations.emulator._server.server import Emulator

pytestmark = [pytest.mark.kluster_emulator(timing="instant"), pytest.mark.timeout(240)]
SPEED = 2.0  # observed-like job phases, 200 x faster: a duplicate is still queued when its creator cancels it

BODY = {"model": "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", "messages": [{"role": "user", "content": "hi"}]}
WORKER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from kluster_agents.integrations._jobs.batch.submit import submit_batch

    go, journal, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    requests = [{"model": "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo",
                 "messages": [{"role": "user", "content": f"prompt {i}"}]} for i in range(5)]
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)
    handle = submit_batch(requests, journal=journal, poll_interval=0)
    if mode == "submit-then-hang":
        print(json.dumps({"batches": handle.batch_ids}), flush=True)
        time.sleep(600)
    results = handle.results(timeout=120)
    print(json.dumps({"batches": handle.batch_ids, "answers": [r.content for r in results]}), flush=True)
""")


def _workers(emulator: Emulator, tmp_path: Path, modes: list[str]) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "KLUSTER_BASE_URL": emulator.base_url, "KLUSTER_API_KEY": emulator.api_key}
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), str(tmp_path / f"journal-{i}.sqlite3"), mode],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, mode in enumerate(modes)
    ]
    for proc in procs:  # all imported and waiting: they submit at once
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    return procs


def _output(proc: subprocess.Popen[str]) -> dict[str, list[str]]:
    assert proc.stdout is not None
    return json.loads(proc.stdout.readline())


def _tagged(emulator: Emulator) -> list[dict[str, object]]:
    return [b for b in emulator.runtime.batches.list() if RUN_METADATA_KEY in (b.get("metadata") or {})]


@pytest.mark.kluster_emulator(timing="realistic")
def test_four_workers_submitting_one_input_run_one_job(kluster_emulator: Emulator, tmp_path: Path) -> None:
    kluster_emulator.controls.clock.set_speed(SPEED)
    procs = _workers(kluster_emulator, tmp_path, ["run"] * 4)
    outputs = [_output(p) for p in procs]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    assert len({tuple(o["batches"]) for o in outputs}) == 1, outputs  # every worker adopted the same job
    assert all(o["answers"] == outputs[0]["answers"] and len(o["answers"]) == 5 for o in outputs)
    live = [b for b in _tagged(kluster_emulator) if b["status"] not in ("cancelling", "cancelled")]
    assert [b["id"] for b in live] == outputs[0]["batches"]  # duplicates (if any raced) were cancelled


@pytest.mark.kluster_emulator(timing="realistic")
def test_a_duplicate_is_cancelled_and_the_earliest_adopted(kluster_emulator: Emulator) -> None:
    """The cancel really reaches the service: a bodiless cancel gets its observed HTTP 500."""
    kluster_emulator.controls.clock.freeze()
    client = make_client(kluster_emulator.settings)
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": BODY}
    file = client.files.create(file=("in.jsonl", json.dumps(line).encode()), purpose="batch")
    tags = {RUN_METADATA_KEY: "run", CHUNK_METADATA_KEY: "0"}
    earliest, ours = (
        client.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h", metadata=tags
        )
        for _ in range(2)
    )
    assert reconcile(client, ours, "run", 0).id == earliest.id
    assert client.batches.retrieve(ours.id).status in ("cancelling", "cancelled")
    assert client.batches.retrieve(earliest.id).status not in ("cancelling", "cancelled")


def test_a_worker_killed_after_submitting_is_replaced_elsewhere(kluster_emulator: Emulator, tmp_path: Path) -> None:
    (first,) = _workers(kluster_emulator, tmp_path, ["submit-then-hang"])
    submitted = _output(first)["batches"]
    first.send_signal(signal.SIGKILL)
    first.wait()
    elsewhere = tmp_path / "elsewhere"  # another worker, another journal: nothing local tells it about the job
    elsewhere.mkdir()
    (second,) = _workers(kluster_emulator, elsewhere, ["run"])
    resumed = _output(second)
    assert second.wait(timeout=60) == 0
    assert resumed["batches"] == submitted and len(resumed["answers"]) == 5
    assert kluster_emulator.controls.count("/batches", "POST") == 1
