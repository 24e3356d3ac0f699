"""Batch at scale, against the openai-SDK code a competent user writes, measured in the same run:

- build: validate + write + index N requests (`prepare_requests`) vs a list of dicts `json.dumps`-ed
  into one file;
- list (the baseline `naive_list`): split into tier-size files, `files.create`, `batches.create`, poll,
  `files.content().text`, `json.loads` each line, a dict by custom_id, each reply's text read in input
  order; against `run_batch(...)` returning every result, each reply's text read with
  `BatchResult.content` (`ours_list`) or through a validated `ChatCompletion` (`ours_list_sdk`, more
  work than the baseline does: printed, no goal);
- stream: `iter_results(...)`, each reply read through its `ChatCompletion` (no goal).

Tier and limits: the core tier (100,000 requests per batch job), so 1M lines are 10 jobs on both sides.
The goals (build >= 1.0x, list >= 1.3x the baseline, RSS growth) are asserted on the median of
per-round ratios.

Both sides talk to the same fake Files/Batches API over HTTP (a stdlib server in its own process, so
its memory and CPU are not the client's: uploads are kept as their custom ids only, every job is
`completed` at once, outputs are generated in blocks, last line first). Each measurement runs in its
own subprocess so its peak RSS growth is its own; candidates are interleaved over BENCH_ROUNDS rounds
(order alternating) and the median (with the spread) is printed. The machine's load average is
printed with the figures: on a shared machine, compare runs only at similar load.

Run: uv run pytest -m benchmark tests/benchmarks/test_batch_scale.py -s
     (BENCH_LINES, BENCH_ROUNDS; BENCH_ONLY=ours_list,naive_list measures only those)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LINES = int(os.environ.get("BENCH_LINES", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1"))
MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
PER_JOB = 100_000  # the core tier's max requests per batch job (both sides split by it)
LIST_RSS_BUDGET_MB = 100
STREAM_RSS_BUDGET_MB = 100
BUILD_GOAL = 1.0  # x the naive code's throughput
LIST_GOAL = 1.3


def _request(i: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Summarise document {i} in one line."}],
        "max_completion_tokens": 64,
        "custom_id": f"doc-{i}",
    }


_OUTPUT = (
    '{{"id":"r{n}","custom_id":"{cid}","response":{{"status_code":200,"request_id":"q{n}","body":'
    '{{"id":"chatcmpl-{n}","object":"chat.completion","created":1,"model":"' + MODEL + '","choices":[{{"index":0,'
    '"message":{{"role":"assistant","content":"Reply to {cid}."}},"finish_reason":"stop"}}],'
    '"usage":{{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}}}}}}}\n'
)


def _custom_ids(data: bytes) -> bytes:
    """The custom ids of an uploaded JSONL file, newline-joined (a byte scan, the same cost for both)."""
    ids = []
    for line in data.split(b"\n"):
        at = line.find(b'"custom_id":')
        if at < 0:
            continue
        start = line.index(b'"', at + 12) + 1
        ids.append(line[start : line.index(b'"', start)])
    return b"\n".join(ids)


class _FakeAPI:
    """The fake Files/Batches API's state and answers (served by `_serve` in its own process)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def output(self, file_id: str) -> Iterator[bytes]:
        ids = self.files[file_id].split(b"\n")
        block: list[str] = []
        for n in range(len(ids) - 1, -1, -1):  # the service's own order: last line first
            block.append(_OUTPUT.format(n=n, cid=ids[n].decode()))
            if len(block) == 2000:
                yield "".join(block).encode()
                block = []
        yield "".join(block).encode()

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """(status, JSON object or an iterator of body blocks)."""
        path = path.removeprefix("/v1")
        if method == "POST" and path == "/files":
            file_id = f"file-{len(self.files)}"
            self.files[file_id] = _custom_ids(body)
            obj = {"id": file_id, "object": "file", "bytes": 0, "created_at": 1, "filename": "in.jsonl"}
            return 200, {**obj, "purpose": "batch"}
        if method == "POST" and path == "/batches":
            request = json.loads(body)
            batch_id = f"batch-{len(self.batches)}"
            self.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": "/v1/chat/completions",
                "input_file_id": request["input_file_id"],
                "completion_window": "24h",
                "status": "completed",
                "created_at": 1,
                "output_file_id": request["input_file_id"],
                "error_file_id": None,
                "errors": [],
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
                "metadata": request.get("metadata"),
            }
            return 200, self.batches[batch_id]
        if method == "GET" and path.startswith("/batches/"):
            return 200, self.batches[path.split("/")[2]]
        if method == "GET" and path.startswith("/files/") and path.endswith("/content"):
            return 200, self.output(path.split("/")[2])
        return 404, {"error": {"message": f"{method} {path}"}}


def _serve(port_out: Any) -> None:
    """A stdlib HTTP server for `_FakeAPI` (its own process: its memory and CPU are not the client's)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    api = _FakeAPI()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            status, answer = api.answer(self.command, self.path, self.rfile.read(length))
            self.send_response(status)
            if isinstance(answer, dict):
                data = json.dumps(answer).encode()
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("content-type", "application/octet-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for block in answer:
                if not block:  # a zero-length chunk would end the body early
                    continue
                self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

        do_GET = do_POST = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.put(server.server_address[1])
    server.serve_forever()


def _start_fake() -> tuple[Any, str]:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=_serve, args=(ports,), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{ports.get(timeout=60)}/v1"


_BASE_URL = "https://bench.invalid/v1"  # replaced by the fake's address in each measuring process


def _fake_api() -> Any:
    import openai

    return openai.OpenAI(api_key="bench-key", base_url=_BASE_URL, max_retries=0, timeout=600)


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return _rss_mb()


def _settings() -> Any:
    from kluster_agents.integrations._api.settings import KlusterSettings

    return KlusterSettings.load(api_key="bench-key", base_url=_BASE_URL, warn_on_drop=False, timeout=600)


# --- the candidates (each runs in its own subprocess) ----------------------------------------------------


def ours_build(workdir: Path, lines: int) -> float:
    from kluster_agents.integrations._jobs.batch.input import prepare_requests

    prepared = prepare_requests(
        (_request(i) for i in range(lines)),
        _settings(),
        workdir,
        max_requests_per_job=None,
        max_file_bytes=100 * 1024 * 1024,
        run_options={},
    )
    assert sum(c.lines for c in prepared.chunks) == lines
    prepared.index.close()
    return lines


def naive_build(workdir: Path, lines: int) -> float:
    requests = [_request(i) for i in range(lines)]
    encoded = [
        json.dumps({"custom_id": r.pop("custom_id"), "method": "POST", "url": "/v1/chat/completions", "body": r})
        for r in requests
    ]
    (workdir / "input.jsonl").write_text("\n".join(encoded) + "\n")
    return lines


def ours_list(workdir: Path, lines: int) -> float:
    from kluster_agents.integrations._jobs.batch.run import run_batch

    results = run_batch(
        (_request(i) for i in range(lines)), settings=_settings(), client=_fake_api(), journal=False, poll_interval=0
    )
    replies = sum(len(r.content or "") > 0 for r in results)
    assert replies == lines == len(results) and results[-1].custom_id == f"doc-{lines - 1}"
    return replies


def ours_list_sdk(workdir: Path, lines: int) -> float:
    """`ours_list`, reading each reply through a validated `ChatCompletion` (as the naive code does)."""
    from kluster_agents.integrations._jobs.batch.run import run_batch

    results = run_batch(
        (_request(i) for i in range(lines)), settings=_settings(), client=_fake_api(), journal=False, poll_interval=0
    )
    replies = sum(len(r.unwrap().choices[0].message.content or "") > 0 for r in results)
    assert replies == lines == len(results) and results[-1].custom_id == f"doc-{lines - 1}"
    return replies


def ours_stream(workdir: Path, lines: int) -> float:
    from kluster_agents.integrations._jobs.batch.run import iter_results

    results = iter_results(
        (_request(i) for i in range(lines)), settings=_settings(), client=_fake_api(), journal=False, poll_interval=0
    )
    replies = sum(len(r.unwrap().choices[0].message.content or "") > 0 for r in results)
    assert replies == lines
    return replies


def naive_list(workdir: Path, lines: int) -> float:
    """The openai-SDK code a competent user writes: tier-size files, `files.create`, `batches.create`, poll,
    `files.content().text`, `json.loads` each line, a dict by custom_id, each reply's text in input order."""
    import time

    client = _fake_api()
    requests = [_request(i) for i in range(lines)]
    batch_ids = []
    for start in range(0, lines, PER_JOB):
        data = "".join(
            json.dumps(
                {
                    "custom_id": r["custom_id"],
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {k: v for k, v in r.items() if k != "custom_id"},
                }
            )
            + "\n"
            for r in requests[start : start + PER_JOB]
        )
        uploaded = client.files.create(file=("input.jsonl", data.encode()), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        batch_ids.append(batch.id)
    by_id: dict[str, Any] = {}
    for batch_id in batch_ids:
        while (batch := client.batches.retrieve(batch_id)).status != "completed":
            time.sleep(1)
        assert batch.output_file_id is not None
        for line in client.files.content(batch.output_file_id).text.splitlines():
            obj = json.loads(line)
            by_id[obj["custom_id"]] = obj
    results = [by_id[r["custom_id"]] for r in requests]
    replies = sum(len(o["response"]["body"]["choices"][0]["message"]["content"] or "") > 0 for o in results)
    assert replies == lines
    return replies


CANDIDATES = {f.__name__: f for f in (ours_build, naive_build, ours_list, ours_list_sdk, naive_list, ours_stream)}
ONLY = [name for name in os.environ.get("BENCH_ONLY", "").split(",") if name]  # e.g. ours_list,naive_list


def _measure(kind: str, tmp_path: Path) -> dict[str, float]:
    workdir = tmp_path / f"{kind}-{len(list(tmp_path.iterdir()))}"
    workdir.mkdir()
    proc = subprocess.run([sys.executable, __file__, kind, str(workdir), str(LINES)], capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError(f"{kind} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(samples: list[dict[str, float]], key: str) -> tuple[float, float]:
    values = [s[key] for s in samples]
    return statistics.median(values), (max(values) - min(values))


@pytest.mark.benchmark
@pytest.mark.timeout(7200)
def test_batch_build_list_and_stream_against_naive_openai_code(tmp_path: Path) -> None:
    print(f"\n{LINES:,} batch requests, {ROUNDS} interleaved round(s), medians (spread)")
    names = [name for name in CANDIDATES if not ONLY or name in ONLY]
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for round_ in range(ROUNDS):
        for name in names if round_ % 2 == 0 else names[::-1]:  # alternate the order
            samples[name].append(_measure(name, tmp_path))
    print(f"  load average after the runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    table = {}
    for name, runs in samples.items():
        seconds, spread = _median(runs, "seconds")
        rss, _ = _median(runs, "rss_growth_mb")
        table[name] = (seconds, rss)
        print(f"  {name:12s} {seconds:7.2f} s (±{spread:.2f})  {LINES / seconds:>10,.0f} lines/s  RSS +{rss:7.1f} MB")

    def ratio(baseline: str, ours: str) -> tuple[float, float, float] | None:
        """Median of the per-round speed ratios (baseline time / our time), with their min and max."""
        if baseline not in samples or ours not in samples:
            return None
        ratios = [b["seconds"] / o["seconds"] for b, o in zip(samples[baseline], samples[ours], strict=True)]
        return statistics.median(ratios), min(ratios), max(ratios)

    figures = {
        "build (prepare_requests vs json.dumps)": (ratio("naive_build", "ours_build"), BUILD_GOAL),
        "list end to end, text via .content": (ratio("naive_list", "ours_list"), LIST_GOAL),
        "list end to end, text via ChatCompletion": (ratio("naive_list", "ours_list_sdk"), None),
        "stream end to end (iter_results)": (ratio("naive_list", "ours_stream"), None),
    }
    figures = {label: figure for label, figure in figures.items() if figure[0] is not None}
    for label, (figure, goal) in figures.items():
        assert figure is not None
        median, low, high = figure
        target = f"(goal >= {goal:g}x)" if goal else "(no goal)"
        print(f"  {label:42s} {median:5.2f}x naive [{low:.2f}-{high:.2f}] {target}")
    for name, budget in (("ours_list", LIST_RSS_BUDGET_MB), ("ours_stream", STREAM_RSS_BUDGET_MB)):
        if name in table:
            print(f"  RSS growth {name}: +{table[name][1]:.0f} MB (goal < {budget} MB)")
            assert table[name][1] < budget
    for label, (figure, goal) in figures.items():
        assert figure is not None
        median = figure[0]
        assert goal is None or median >= goal, f"{label}: {median:.2f}x naive, goal >= {goal}x"


if __name__ == "__main__":
    import time

    kind, directory, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    # Imports are not part of the measurement; that includes the SDK's resources, which it loads on a
    # client's first call (~0.9 s, the same on both sides).
    import openai.resources  # noqa: F401

    import kluster_agents.integrations._jobs.batch.run  # noqa: F401

    fake, _BASE_URL = _start_fake()
    start_rss = _current_rss_mb()
    started = time.perf_counter()
    CANDIDATES[kind](directory, count)
    elapsed = time.perf_counter() - started
    fake.terminate()
    print(json.dumps({"seconds": elapsed, "rss_growth_mb": _rss_mb() - start_rss}))
