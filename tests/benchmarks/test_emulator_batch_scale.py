"""The emulator holds tier-size batch jobs (users test real batch sizes against it): a 100,000-line job (the core tier's
per-job maximum) completes with every line answered and none expired, and a 1,000,000-line run
(split by the engine into 10 tier-size jobs) completes, with the emulator's memory flat: its RSS
grows by about the same for 1M lines as for 100k (outputs are spooled to disk, not held).

The emulator runs in its own process at its default job timing (1,000 lines at a time per job,
0.25 s each, on the wall clock); the client is `iter_results` (constant memory on our side).
Run: uv run pytest -m benchmark tests/benchmarks/test_emulator_batch_scale.py -s   (BENCH_LINES)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ._servers import API_KEY, emulator_process

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
FLAT_BUDGET_MB = 200  # growth allowed for the largest run (the emulator's caches, SQLite pages, buffers)


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for process {pid}")


def _run(lines: int, port: int) -> dict[str, Any]:
    from kluster_agents.integrations._api.settings import KlusterSettings
    from kluster_agents.integrations._jobs.batch.run import iter_results

    with emulator_process(port) as (server, _, base_url):
        assert server.pid is not None
        idle = _rss_mb(server.pid)
        settings = KlusterSettings.load(api_key=API_KEY, base_url=base_url, warn_on_drop=False, timeout=600)
        requests = (
            {"model": MODEL, "messages": [{"role": "user", "content": f"Question {i}?"}], "custom_id": f"q-{i}"}
            for i in range(lines)
        )
        started = time.perf_counter()
        statuses: dict[str, int] = {}
        answered = 0
        for expected, result in enumerate(iter_results(requests, settings=settings, journal=False, poll_interval=1)):
            assert result.index == expected
            statuses[result.status] = statuses.get(result.status, 0) + 1
            answered += bool(result.ok and result.unwrap().choices[0].message.content)
        elapsed = time.perf_counter() - started
        peak, after = _rss_mb(server.pid, "VmHWM"), _rss_mb(server.pid)
    return {
        "lines": lines,
        "seconds": elapsed,
        "statuses": statuses,
        "answered": answered,
        "idle_mb": idle,
        "peak_growth_mb": peak - idle,
        "after_growth_mb": after - idle,
    }


def _report(m: dict[str, Any]) -> None:
    print(
        f"  {m['lines']:>9,} lines: {m['seconds']:7.1f} s ({m['lines'] / m['seconds']:,.0f} lines/s end to end), "
        f"statuses {m['statuses']}, emulator RSS {m['idle_mb']:.0f} MB idle, peak +{m['peak_growth_mb']:.0f} MB, "
        f"+{m['after_growth_mb']:.0f} MB after; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


@pytest.mark.benchmark
@pytest.mark.timeout(7200)
def test_tier_size_job_and_a_million_lines_on_the_emulator(free_port: Callable[[], int]) -> None:
    big = int(os.environ.get("BENCH_LINES", "1000000"))
    print("\nbatch jobs on the emulator (its own process, default job timing)")
    one_job = _run(100_000, free_port())
    _report(one_job)
    assert one_job["statuses"] == {"succeeded": 100_000} and one_job["answered"] == 100_000  # 0 expired
    many = _run(big, free_port())
    _report(many)
    assert many["statuses"] == {"succeeded": big} and many["answered"] == big
    print(
        f"  emulator memory: peak growth {one_job['peak_growth_mb']:.0f} MB for 100k lines, "
        f"{many['peak_growth_mb']:.0f} MB for {big:,} ({big // 100_000} jobs)"
    )
    assert many["peak_growth_mb"] < FLAT_BUDGET_MB
