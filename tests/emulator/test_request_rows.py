"""Honest request rows: the stream-usage probe shows as a probe, not a failure; `kluster-agents emulate`
logs one line per request (method, path, status, ms) unless `--quiet`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kluster_agents.integrations import make_client
from kluster_agents.integrations._api.compat_trace import COMPAT_HEADER, with_probe
from kluster_agents.integrations._api.stream_usage import forget_refusals
from kluster_agents.integrations.emulator import RequestRecord
from kluster_agents.integrations.emulator._server.emulate_command import request_line
from kluster_agents.integrations.emulator._server.server import Emulator

from .helpers import LLAMA_8B, user

TIMEOUT = 60.0


def _rows(emulator: Emulator) -> list[dict]:
    with httpx.Client(timeout=10) as http:
        response = http.get(
            f"http://127.0.0.1:{emulator.port}/inspector/api/requests",
            params={"token": emulator.runtime.inspector_token},
        )
    return list(reversed(response.json()["requests"]))  # oldest first


def test_the_stream_usage_probe_is_a_probe_row_not_a_failure(kluster_emulator: Emulator) -> None:
    forget_refusals()  # the probe is made once per process and base URL
    client = make_client(kluster_emulator.settings)
    chunks = list(client.chat.completions.create(model=LLAMA_8B, messages=user("hi"), stream=True))
    assert chunks
    probe, call = _rows(kluster_emulator)
    assert probe["status"] == 400 and probe["probe"].startswith("usage probe: stream_options refused")
    assert not probe["compat"]  # the label is not a change compat made
    assert call["status"] == 200 and call["probe"] == "" and call["stream"]
    with httpx.Client(timeout=10) as http:
        detail = http.get(
            f"http://127.0.0.1:{kluster_emulator.port}/inspector/fragments/request/{probe['id']}",
            params={"token": kluster_emulator.runtime.inspector_token},
        ).text
    assert "badge probe" in detail and "No compat changes reported" in detail

    list(client.chat.completions.create(model=LLAMA_8B, messages=user("again"), stream=True))
    assert [row["status"] for row in _rows(kluster_emulator)] == [400, 200, 200]  # never probed again


def test_a_400_without_the_probe_label_stays_a_failure(kluster_emulator: Emulator) -> None:
    raw = httpx.post(
        f"{kluster_emulator.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {kluster_emulator.api_key}"},
        json={"model": LLAMA_8B, "messages": user("hi"), "stream": True, "stream_options": {"include_usage": True}},
        timeout=10,
    )
    assert raw.status_code == 400
    (row,) = _rows(kluster_emulator)
    assert row["probe"] == ""


def test_the_probe_label_joins_the_compat_summary() -> None:
    headers = with_probe({COMPAT_HEADER: json.dumps({"dropped": ["n"]}), "x-other": "1"}, "stream_options")
    assert json.loads(headers[COMPAT_HEADER]) == {"dropped": ["n"], "probe": "stream_options"}
    assert headers["x-other"] == "1"
    assert json.loads(with_probe(None, "stream_options")[COMPAT_HEADER]) == {"probe": "stream_options"}


def test_the_emulator_reports_each_answered_request_with_its_milliseconds(kluster_emulator: Emulator) -> None:
    seen: list[str] = []
    kluster_emulator.app.on_response = lambda record, ms: seen.append(request_line(record, ms))
    try:
        httpx.get(f"{kluster_emulator.base_url}/models", headers={"Authorization": "Bearer wrong"}, timeout=10)
        httpx.get(
            f"{kluster_emulator.base_url}/models",
            headers={"Authorization": f"Bearer {kluster_emulator.api_key}"},
            timeout=10,
        )
    finally:
        kluster_emulator.app.on_response = None
    assert [re.sub(r" \d+ ms$", " N ms", line) for line in seen] == [
        "GET /v1/models 401 N ms",
        "GET /v1/models 200 N ms",
    ]
    assert (
        request_line(RequestRecord("POST", "/v1/batches", "", None, status=200), 12.4) == "POST /v1/batches 200 12 ms"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("quiet", [False, True], ids=["logged", "quiet"])
def test_emulate_logs_one_line_per_request_unless_quiet(tmp_path: Path, quiet: bool) -> None:
    args = [sys.executable, "-m", "kluster_agents.integrations._cli", "emulate", "--port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    proc = subprocess.Popen(
        [*args, *(["--quiet"] if quiet else [])],
        env={**env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + TIMEOUT
        base_url = None
        for line in proc.stdout:
            found = re.search(r"base URL : (\S+)", line)
            base_url = found.group(1) if found else base_url
            if "Press Ctrl-C" in line:
                break
            assert time.monotonic() < deadline, "the emulator did not start"
        assert base_url is not None
        httpx.get(f"{base_url}/models", headers={"Authorization": "Bearer emulator"}, timeout=10)
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=TIMEOUT)[0]
    finally:
        proc.kill()
    logged = [line for line in rest.splitlines() if line.startswith("GET ")]
    if quiet:
        assert logged == []
    else:
        assert len(logged) == 1 and re.fullmatch(r"GET /v1/models 200 \d+ ms", logged[0]), rest


def test_a_base_url_that_accepted_stream_options_is_not_probed_again(kluster_emulator: Emulator) -> None:
    """Once a stream that asked for usage is answered, the next ones still ask but are no probes: no label
    (and no compat header at all when compat changed nothing)."""
    forget_refusals()
    kluster_emulator.controls.accept_stream_options = True
    client = make_client(kluster_emulator.settings)
    for text in ("hi", "again"):
        assert list(client.chat.completions.create(model=LLAMA_8B, messages=user(text), stream=True))
    first, second = kluster_emulator.controls.requests[-2:]
    assert first.body["stream_options"] == second.body["stream_options"] == {"include_usage": True}
    assert first.extra["compat"] == {"probe": "stream_options"}
    assert second.extra["compat"] is None
    forget_refusals()
