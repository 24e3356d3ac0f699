"""Import cost of the framework-free layer over `import openai` (target < 150 ms).

Run: uv run pytest -m benchmark tests/benchmarks/test_import_time.py -s
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import pytest

RUNS = 7


def _median_import_seconds(statement: str) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@pytest.mark.benchmark
def test_integrations_import_overhead_over_openai() -> None:
    baseline = _median_import_seconds("import openai")
    ours = _median_import_seconds("import openai, kluster_agents.integrations")
    in_use = _median_import_seconds("from kluster_agents.integrations import KlusterSettings, prepare_chat_request")
    overhead_ms = (ours - baseline) * 1000
    print(
        f"\nimport openai: {baseline * 1000:.0f} ms; + import kluster_agents.integrations: {ours * 1000:.0f} ms "
        f"(overhead {overhead_ms:.0f} ms, target < 150 ms); settings + compat alone (they need no openai): "
        f"{in_use * 1000:.0f} ms"
    )
    assert overhead_ms < 150
