"""Cassettes of the core API through the pass-through emulator: chat (plain and streamed), files,
a batch job via `run_batch` with its polling, Verify, MCP enable, fine-tuning — recorded against a
second emulator standing in for the real service, then replayed with that service stopped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._jobs.batch.run import run_batch
from kluster_agents.integrations._verify.client import VerifyClient
from kluster_agents.integrations.emulator._control.controls import JobTiming
from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import UPSTREAM_KEY, record_and_replay

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])  # pytest-socket: nothing but loopback
LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
TRAINING = "\n".join(
    json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]})
    for i in range(10)
)


def _client(emulator: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=emulator.base_url, api_key=emulator.api_key, max_retries=0)


def _core_scenario(emulator: Emulator) -> dict[str, Any]:
    client = _client(emulator)
    chat = client.chat.completions.create(
        model=LLAMA, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=30
    )
    streamed = [
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model=LLAMA,
            messages=[{"role": "user", "content": "Stream a short greeting."}],
            stream=True,
        )
        if chunk.choices
    ]
    verdict = VerifyClient(settings=emulator.settings, limiter=False).verify(
        "What is the capital of France?", "Paris is the capital of France.", context="Paris is the capital of France."
    )
    mcp = emulator_post(emulator, "/mcp/enable")
    upload = client.files.create(file=("train.jsonl", TRAINING.encode()), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="klusterai/Meta-Llama-3.1-8B-Instruct-Turbo", training_file=upload.id)
    retrieved = client.fine_tuning.jobs.retrieve(job.id)
    return {
        "chat": (chat.id, chat.choices[0].message.content),
        "stream": "".join(streamed),
        "verify": (verdict.is_hallucination, verdict.explanation),
        "mcp_enabled": mcp["enabled"],
        "file": (upload.id, upload.bytes),
        "job": (job.id, retrieved.id, retrieved.training_file),
    }


def emulator_post(emulator: Emulator, path: str) -> dict[str, Any]:
    import httpx

    response = httpx.post(emulator.base_url + path, headers={"Authorization": f"Bearer {emulator.api_key}"})
    response.raise_for_status()
    return response.json()


def test_core_exchanges_record_then_replay_offline(
    kluster_emulator: Emulator, upstream: Emulator, tmp_path: Path
) -> None:
    upstream.controls.script("a colour only the upstream knows: vermilion")
    result = record_and_replay(kluster_emulator, upstream, tmp_path / "cassettes" / "core.json", _core_scenario)
    assert result.replayed == result.recorded
    assert result.recorded["chat"][1] == "a colour only the upstream knows: vermilion"  # served from the cassette
    assert result.recorded["stream"] and result.recorded["mcp_enabled"] is True
    assert result.replayed_requests == result.recorded_requests
    cassette = json.loads(result.path.read_text())
    assert cassette["recorded_against"] == "emulator"  # the upstream said so (x-kluster-emulator)
    streamed = next(i for i in cassette["interactions"] if i["request"]["body"].get("stream") is True)
    assert streamed["response"]["stream"][-1] == "[DONE]" and len(streamed["response"]["stream"]) > 2
    upload = next(i for i in cassette["interactions"] if i["request"]["path"] == "/v1/files")
    assert upload["request"]["body"]["multipart"]["file"]["content"] == TRAINING  # readable, not base64


def test_no_secret_reaches_the_cassette(kluster_emulator: Emulator, upstream: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "cassettes" / "secrets.json"
    kluster_emulator.record_cassette(path, upstream_url=upstream.base_url, upstream_key=upstream.api_key)
    _core_scenario(kluster_emulator)
    kluster_emulator.eject_cassette()
    mcp_token = upstream.runtime.mcp_token()
    assert mcp_token and mcp_token.startswith("MCP_TOKEN_")
    text = path.read_text()
    for secret in (UPSTREAM_KEY, mcp_token, "Bearer "):
        assert secret not in text, secret
    assert "authorization" not in text.lower() and "cookie" not in text.lower()
    enable = next(i for i in json.loads(text)["interactions"] if i["request"]["path"] == "/v1/mcp/enable")
    assert enable["response"]["json"]["token"] == "***"


def test_run_batch_replays_its_status_progression_time_compressed(
    kluster_emulator: Emulator, upstream: Emulator, tmp_path: Path
) -> None:
    requests = [{"model": LLAMA, "messages": [{"role": "user", "content": f"Say {word}."}]} for word in "abc"]
    # Unscaled phases (1 s of scheduling) against 0.02 s polls: a repeated status is certain even when a
    # loaded machine stalls the client for a few hundred ms (at 0.2x it could miss every repeat).
    upstream.controls.set_timing(JobTiming().scaled(4))  # 4 s of scheduling: repeats even at load 15

    def scenario(emulator: Emulator) -> list[tuple[str, str | None]]:
        settings: KlusterSettings = emulator.settings
        results = run_batch(requests, settings=settings, journal=False, poll_interval=0.02, timeout=30)
        return [(r.custom_id, r.unwrap().choices[0].message.content) for r in results]

    result = record_and_replay(kluster_emulator, upstream, tmp_path / "cassettes" / "batch.json", scenario)
    assert result.replayed == result.recorded and len(result.recorded) == 3
    polls = [p for m, p in result.recorded_requests if m == "GET" and p.startswith("/v1/batches/")]
    replayed_polls = [p for m, p in result.replayed_requests if m == "GET" and p.startswith("/v1/batches/")]
    cassette = json.loads(result.path.read_text())
    statuses = [
        i["response"]["json"]["status"]
        for i in cassette["interactions"]
        if i["request"]["method"] == "GET" and i["request"]["path"].startswith("/v1/batches/")
    ]
    distinct = [s for k, s in enumerate(statuses) if k == 0 or statuses[k - 1] != s]
    assert statuses[-1] == "completed" and len(distinct) >= 2
    assert len(polls) > len(distinct)  # the recording polled while nothing changed...
    assert len(replayed_polls) == len(distinct)  # ...the replay shows each status once
