"""The emulator's request log: bounded by bytes, bodies kept as bytes and parsed when read, and the
inspector still lists every request the log holds."""

from __future__ import annotations

import gc

import httpx

from kluster_agents.integrations.emulator import RequestRecord
from kluster_agents.integrations.emulator._inspector.request_log import RequestLog
from kluster_agents.integrations.emulator._server.server import Emulator

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"


def _chat(http: httpx.Client, emulator: Emulator, text: str) -> None:
    response = http.post(
        f"{emulator.base_url}/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {emulator.api_key}"},
    )
    assert response.status_code == 200


def test_many_large_requests_keep_the_log_under_its_byte_budget(kluster_emulator: Emulator) -> None:
    log = kluster_emulator.controls.request_log
    log.max_bytes = 2 * 1024 * 1024
    with httpx.Client() as http:
        for i in range(40):
            _chat(http, kluster_emulator, f"request {i} " + "x" * 200_000)
    records = kluster_emulator.controls.requests
    kept = sum(len(r.raw_body or b"") + len(r.extra.get("response") or b"") for r in records)
    assert kept <= log.nbytes <= log.max_bytes
    assert 0 < len(records) < 40
    assert records[-1].body["messages"][0]["content"].startswith("request 39 ")  # the newest is kept and parsed
    with httpx.Client() as http:
        listed = http.get(kluster_emulator.inspector_url.replace("/?", "/api/requests?")).json()["requests"]
    assert [row["id"] for row in listed] == [r.extra["id"] for r in reversed(records)]


def test_a_finished_record_holds_no_objects_the_garbage_collector_tracks(kluster_emulator: Emulator) -> None:
    with httpx.Client() as http:
        _chat(http, kluster_emulator, "hello")
    [record] = kluster_emulator.controls.requests
    held = [record.raw_body, *record.extra.values()]
    assert [v for v in held if gc.is_tracked(v)] == []  # bytes, strings, numbers: no parsed body, no lists
    assert isinstance(record.raw_body, bytes) and record.body["messages"][0]["content"] == "hello"


def test_the_newest_record_stays_even_when_it_alone_is_over_the_budget() -> None:
    log: RequestLog[RequestRecord] = RequestLog(max_bytes=100)
    first, second = RequestRecord("POST", "/v1/a", ""), RequestRecord("POST", "/v1/b", "")
    log.append(first)
    log.charge_request(first, b'{"a": 1}')
    log.append(second)
    log.charge_request(second, b"[" + b"1," * 100 + b"1]")
    assert log.records() == [second]
    assert log.nbytes == second.charged
    log.clear()
    assert len(log) == 0 and log.nbytes == 0
