"""Micro-batcher: per-call overhead over a plain `arun_batch` of the same requests, and how many
Batch API jobs N concurrent callers produce (against the embedded emulator, real HTTP).

Run: uv run pytest -m benchmark tests/benchmarks/test_microbatch.py -s
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from kluster_agents.integrations._jobs.batch.run import arun_batch
from kluster_agents.integrations._jobs.microbatch import MicroBatcher

MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
CALLERS = (10, 100, 1_000, 5_000)
MAX_BATCH = 1_000


def _chat(i: int) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"question {i}"}]}


async def _through_microbatcher(settings, n: int) -> tuple[float, int, int]:
    started = time.perf_counter()
    async with MicroBatcher(settings, max_batch_size=MAX_BATCH, max_wait=0.05, poll_interval=0.01) as mb:
        answers = await asyncio.gather(*(mb.complete(_chat(i)) for i in range(n)))
    assert len(answers) == n
    return time.perf_counter() - started, mb.stats.jobs, mb.stats.windows


async def _plain_batch(settings, n: int) -> float:
    started = time.perf_counter()
    results = await arun_batch(
        [_chat(i) for i in range(n)],
        settings=settings,
        journal=False,
        poll_interval=0.01,
        max_requests_per_job=MAX_BATCH,
    )
    assert all(r.ok for r in results)
    return time.perf_counter() - started


@pytest.mark.benchmark
async def test_microbatcher_overhead_and_jobs_per_callers(kluster_emulator) -> None:
    settings = kluster_emulator.settings
    await _through_microbatcher(settings, 2)  # warm-up: imports, connection pool, pydantic schemas
    await _plain_batch(settings, 2)
    print(
        f"\nMicroBatcher(max_batch_size={MAX_BATCH}, max_wait=0.05 s) vs arun_batch of the same requests "
        "(overhead includes the 0.05 s window; windows run concurrently, arun_batch's jobs one after another)"
    )
    print(f"{'callers':>8} {'jobs':>5} {'windows':>8} {'microbatcher':>13} {'arun_batch':>11} {'overhead/call':>14}")
    for n in CALLERS:
        creates_before = kluster_emulator.controls.count("/batches", "POST")
        elapsed, jobs, windows = await _through_microbatcher(settings, n)
        assert kluster_emulator.controls.count("/batches", "POST") - creates_before == jobs
        plain = await _plain_batch(settings, n)
        overhead_ms = (elapsed - plain) / n * 1000
        print(f"{n:>8,} {jobs:>5} {windows:>8} {elapsed:>12.2f}s {plain:>10.2f}s {overhead_ms:>12.3f}ms")
        assert jobs == math.ceil(n / MAX_BATCH)
