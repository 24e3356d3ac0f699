"""Emulator throughput at 50 concurrent clients against a bare FastAPI app, measured with Debian's `wrk`.

The yardstick is what a competent user writes: FastAPI + uvicorn (same uvicorn settings as the emulator:
httptools/uvloop as uvicorn picks, no access log), one route that parses the JSON body and answers the same
chat-completion shape (a dict, or the same SSE chunks via `StreamingResponse`). Each server runs in its own
process; both modes (plain and streamed) alternate with the yardstick in interleaved rounds, and each
figure is the median of the rounds with the spread (min-max). The emulator keeps its inspector log on
throughout, as `kluster-agents emulate` does.

Run: uv run pytest -m benchmark -s tests/benchmarks/test_emulator_throughput.py
Targets: >= 0.8x the bare app's requests/s in both modes, p99 <= 2x. The servers' CPU time per request
(from /proc) is printed beside them: on a machine loaded by other work it varies far less than req/s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

API_KEY = "bench-key"
CLIENTS = 50
SECONDS = 5
ROUNDS = 5
MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
WRK = shutil.which("wrk") or "/usr/bin/wrk"

EMULATOR = """
import sys
from kluster_agents.integrations.emulator import serve
serve(port=int(sys.argv[1]), api_key=sys.argv[2])
"""

# The bare app answers with the reply the emulator gives the same request (`sys.argv[2]`, JSON), so both
# send the same bytes: a fresh id and timestamp per request, `json.dumps` per SSE chunk.
BARE = """
import json, sys, time, uuid
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

reply = json.loads(sys.argv[2])
app = FastAPI()

def chunk(ident, model, delta, finish):
    return {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

@app.post("/v1/chat/completions")
async def chat(request: Request):
    body = await request.json()
    ident, model = f"chat-{uuid.uuid4().hex}", body["model"]
    if not body.get("stream"):
        return {"id": ident, "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply["content"],
                             "tool_calls": []}, "logprobs": None, "finish_reason": "stop"}],
                "usage": reply["usage"]}
    async def events():
        yield f"data: {json.dumps(chunk(ident, model, {'role': 'assistant', 'content': ''}, None))}\\n\\n"
        for piece in reply["pieces"]:
            yield f"data: {json.dumps(chunk(ident, model, {'content': piece}, None))}\\n\\n"
        yield f"data: {json.dumps(chunk(ident, model, {}, 'stop'))}\\n\\n"
        yield "data: [DONE]\\n\\n"
    return StreamingResponse(events(), media_type="text/event-stream")

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False,
            timeout_keep_alive=5)
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = '{body}'
"""


def _body(stream: bool) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "ping"}], "stream": stream}


@contextmanager
def _server(code: str, port: int, arg: str) -> Iterator[int]:
    process = subprocess.Popen([sys.executable, "-c", code, str(port), arg])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        yield process.pid
    finally:
        process.terminate()
        process.wait(10)


def _reply_of(port: int) -> str:
    """The emulator's reply to the benchmark's request, for the bare app to send back."""
    url, headers = f"http://127.0.0.1:{port}/v1/chat/completions", {"Authorization": f"Bearer {API_KEY}"}
    plain = httpx.post(url, json=_body(False), headers=headers).json()
    streamed = httpx.post(url, json=_body(True), headers=headers).text
    events = [json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: {")]
    pieces = [e["choices"][0]["delta"]["content"] for e in events[1:] if e["choices"][0]["delta"].get("content")]
    return json.dumps({"content": plain["choices"][0]["message"]["content"], "usage": plain["usage"], "pieces": pieces})


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(port: int, pid: int, script: Path) -> tuple[float, float, float]:
    """(requests/s, p99 ms, server CPU ms per request) of one `wrk` run; fails on any non-2xx answer or
    connection error (a timeout past 10 s shows in p99 instead)."""
    cpu = _cpu_seconds(pid)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    out = subprocess.run(
        [WRK, "-t2", f"-c{CLIENTS}", f"-d{SECONDS}s", "--timeout", "10s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cpu = _cpu_seconds(pid) - cpu
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+)", out)
    assert "Non-2xx" not in out and (errors is None or set(errors.groups()) == {"0"}), out
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, float(value) * _UNITS[unit], cpu / total * 1000


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


@pytest.mark.benchmark
@pytest.mark.skipif(not Path(WRK).exists(), reason="needs Debian's wrk (/usr/bin/wrk)")
def test_emulator_throughput_against_bare_fastapi(free_port: Callable[[], int], tmp_path: Path) -> None:
    emulator_port, bare_port = free_port(), free_port()
    scripts = {}
    for stream in (False, True):
        scripts[stream] = tmp_path / f"post-{stream}.lua"
        scripts[stream].write_text(WRK_SCRIPT.format(key=API_KEY, body=json.dumps(_body(stream))))
    with _server(EMULATOR, emulator_port, API_KEY) as emulator_pid:
        reply = _reply_of(emulator_port)
        with _server(BARE, bare_port, reply) as bare_pid:
            results: dict[tuple[str, bool], list[tuple[float, float, float]]] = {}
            for stream in (False, True):  # warm-up
                _wrk(emulator_port, emulator_pid, scripts[stream]), _wrk(bare_port, bare_pid, scripts[stream])
            for round_ in range(ROUNDS):
                for stream in (False, True):
                    order = [("emulator", emulator_port, emulator_pid), ("bare", bare_port, bare_pid)]
                    for name, port, pid in order if round_ % 2 == 0 else order[::-1]:
                        results.setdefault((name, stream), []).append(_wrk(port, pid, scripts[stream]))
    lines, ratios = [], {}
    for stream in (False, True):
        ours, base = results[("emulator", stream)], results[("bare", stream)]
        rps_ratios = [o[0] / b[0] for o, b in zip(ours, base, strict=True)]
        p99_ratios = [o[1] / b[1] for o, b in zip(ours, base, strict=True)]
        cpu_ratios = [o[2] / b[2] for o, b in zip(ours, base, strict=True)]
        ratios[stream] = (statistics.median(rps_ratios), statistics.median(p99_ratios))
        mode = "streamed" if stream else "plain"
        lines.append(
            f"{mode}: emulator {_spread([o[0] for o in ours])} req/s, p99 {_spread([o[1] for o in ours])} ms; "
            f"bare FastAPI {_spread([b[0] for b in base])} req/s, p99 {_spread([b[1] for b in base])} ms; "
            f"req/s ratio {_spread(rps_ratios)}x, p99 ratio {_spread(p99_ratios)}x; server CPU per request "
            f"{_spread([o[2] for o in ours])} vs {_spread([b[2] for b in base])} ms, ratio {_spread(cpu_ratios)}x"
        )
    print(f"\n{CLIENTS} clients, wrk {SECONDS} s x {ROUNDS} interleaved rounds, median (min-max):\n" + "\n".join(lines))
    for stream, (rps_ratio, p99_ratio) in ratios.items():
        mode = "streamed" if stream else "plain"
        assert rps_ratio >= 0.8, f"{mode}: {rps_ratio:.2f}x the bare app's req/s (target >= 0.8x)"
        assert p99_ratio <= 2.0, f"{mode}: p99 {p99_ratio:.2f}x the bare app's (target <= 2x)"
