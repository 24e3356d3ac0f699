"""Batch JSONL at scale: build (validate + write + index) and parse (stream results back, join by
custom_id, yield in input order) of 1,000,000 requests in constant memory, against a naive
baseline that keeps everything in lists (`json.dumps` per line, `json.loads` per line).

Each side runs in its own subprocess so its peak RSS (ru_maxrss) is its own.
Run: uv run pytest -m benchmark tests/benchmarks/test_batch_jsonl.py -s   (BENCH_LINES=... to resize)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LINES = int(os.environ.get("BENCH_LINES", "1000000"))
MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
RSS_BUDGET_MB = 100


def _request(i: int) -> dict:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Summarise document {i} in one line."}],
        "max_completion_tokens": 64,
        "custom_id": f"doc-{i}",
    }


def _output_line(i: int) -> str:
    body = {
        "id": f"chatcmpl-{i}",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"Document {i} is short."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
    }
    return json.dumps(
        {
            "id": f"r{i}",
            "custom_id": f"doc-{i}",
            "response": {"status_code": 200, "request_id": f"q{i}", "body": body},
            "error": None,
        }
    )


def _write_outputs(path: Path, lines: int) -> None:
    with path.open("w") as handle:  # the service's own order: last line first
        for i in reversed(range(lines)):
            handle.write(_output_line(i) + "\n")


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours(workdir: Path, lines: int) -> dict:
    """The engine's own code paths: `_prepare` (compat + chunk files + SQLite index), then a handle
    streaming the result file over HTTP (httpx MockTransport) into `iter_results()`."""
    import time

    import httpx
    import openai
    from openai.types import Batch

    from kluster_agents.integrations._api.settings import KlusterSettings
    from kluster_agents.integrations._jobs.batch.handle import BatchHandle, Job
    from kluster_agents.integrations._jobs.batch.input import prepare_requests
    from kluster_agents.integrations._jobs.jsonl import MAX_FILE_BYTES

    settings = KlusterSettings.load(api_key="bench-key", base_url="https://bench.invalid/v1", warn_on_drop=False)
    start_rss = _rss_mb()
    started = time.perf_counter()
    prepared = prepare_requests(
        (_request(i) for i in range(lines)),
        settings,
        workdir,
        max_requests_per_job=None,
        max_file_bytes=MAX_FILE_BYTES,
        run_options={},
    )
    build_s = time.perf_counter() - started

    output = workdir / "output.jsonl"
    _write_outputs(output, lines)

    def serve(request: httpx.Request) -> httpx.Response:
        def stream():
            with output.open("rb") as handle:
                while block := handle.read(1 << 16):
                    yield block

        return httpx.Response(200, content=stream())

    client = openai.OpenAI(
        api_key="bench-key",
        base_url="https://bench.invalid/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(serve)),
    )
    jobs = []
    for chunk in prepared.chunks:  # every job's output file is the whole file: ids of other chunks join too
        batch = Batch.construct(
            id=f"batch-{chunk.number}",
            status="completed",
            output_file_id="out",
            error_file_id=None,
            errors=None,
            request_counts=None,
        )
        jobs.append(Job(chunk, batch, collected=chunk.number > 0))
    handle = BatchHandle(client, jobs, prepared.index, workdir)
    started = time.perf_counter()
    ok = 0
    for expected, result in enumerate(handle.iter_results()):
        assert result.index == expected and result.ok
        ok += 1
    parse_s = time.perf_counter() - started
    handle.close()
    assert ok == lines
    return {"build_s": build_s, "parse_s": parse_s, "rss_growth_mb": _rss_mb() - start_rss}


def _naive(workdir: Path, lines: int) -> dict:
    """Everything in lists: the usual notebook approach."""
    import time

    from openai.types.chat import ChatCompletion

    start_rss = _rss_mb()
    started = time.perf_counter()
    requests = [_request(i) for i in range(lines)]
    encoded = [
        json.dumps({"custom_id": r.pop("custom_id"), "method": "POST", "url": "/v1/chat/completions", "body": r})
        for r in requests
    ]
    (workdir / "input.jsonl").write_text("\n".join(encoded) + "\n")
    build_s = time.perf_counter() - started

    output = workdir / "output.jsonl"
    _write_outputs(output, lines)
    started = time.perf_counter()
    parsed = [json.loads(line) for line in output.read_text().splitlines()]
    by_id = {obj["custom_id"]: obj for obj in parsed}
    results = [ChatCompletion.model_validate(by_id[f"doc-{i}"]["response"]["body"]) for i in range(lines)]
    parse_s = time.perf_counter() - started
    assert len(results) == lines
    return {"build_s": build_s, "parse_s": parse_s, "rss_growth_mb": _rss_mb() - start_rss}


def _measure(kind: str, tmp_path: Path) -> dict:
    workdir = tmp_path / kind
    workdir.mkdir()
    proc = subprocess.run(
        [sys.executable, __file__, kind, str(workdir), str(LINES)], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _report(name: str, m: dict) -> None:
    print(
        f"  {name:15s} build {LINES / m['build_s']:>10,.0f} lines/s   parse {LINES / m['parse_s']:>10,.0f} lines/s"
        f"   peak RSS growth {m['rss_growth_mb']:7.1f} MB",
        flush=True,
    )


@pytest.mark.benchmark
@pytest.mark.timeout(3600)
def test_jsonl_build_and_parse_in_constant_memory(tmp_path: Path) -> None:
    print(f"\n{LINES:,} batch requests (build = validate+write+index; parse = stream+join+ordered results)")
    ours = _measure("ours", tmp_path)
    _report("kluster-agents", ours)
    naive = _measure("naive", tmp_path)
    _report("naive lists", naive)
    build, parse = naive["build_s"] / ours["build_s"], naive["parse_s"] / ours["parse_s"]
    memory = naive["rss_growth_mb"] / max(ours["rss_growth_mb"], 1)
    print(
        f"  ours vs naive: build {build:.2f}x, parse {parse:.2f}x the throughput; naive needs {memory:.0f}x the memory"
    )
    assert ours["rss_growth_mb"] < RSS_BUDGET_MB


if __name__ == "__main__":
    kind, directory, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    print(json.dumps((_ours if kind == "ours" else _naive)(directory, count)))
