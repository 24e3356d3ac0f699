"""Many workers, one tier: WORKERS processes x CALLS concurrent calls through mixed adapters (core client,
LangChain, LiteLLM, PydanticAI, CrewAI, one per process in turn) against one emulator enforcing the trial
tier's RPM and concurrency, its minute sped up SPEED x. The clients' window is the service's minute shrunk
alike; their margin (how long after its send the service has counted a request at the latest, for answers that
take longer) stays the shipped 1 s: it is real time (the network, the server lagging on a loaded machine) and
does not shrink with the emulated clock. Scaled too (0.1 s; 0.15 s as this benchmark once had it), it is
within reach of the emulator's admission lag on a loaded machine (up to 0.12 s measured), and a lag past it
let the next window's first request in early: 2 x 429 in one run, 26 with 0.25 s stalls injected into 3% of
the emulator's admissions (none since the stamp is the answer when that comes first, the same stalls
included). Each worker warms its framework up with one call on another model (another budget) first, so
first-call imports do not hold a slot. Run twice, interleaved over ROUNDS rounds: with
KLUSTER_RATE_LIMIT_STORE (a real Redis server) and with today's per-process limiters. Prints the 429s the
emulator answered (each one reaches a caller's SDK, which retries it), the calls that failed, and the % of the
tier's RPM used, counted where the service counts: from the emulator's first admission to the first admission
of the last window's wave, against the windows allowed. Asserts for the shared store 0 x 429, >= 95% of the
RPM and no call lost.

Run: uv run pytest -m benchmark -s tests/benchmarks/test_shared_limits.py   (a few minutes; BENCH_ROUNDS=n)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from kluster_agents.integrations._api.catalog import get_model
from tests.redis_server import RedisServer

from ._servers import RemoteEmulator, controlled_emulator

pytestmark = pytest.mark.benchmark

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
WARM_UP_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"  # its own budget: warming up costs MODEL nothing
TIER = "trial"
WORKERS, CALLS, SPEED = 8, 50, 10.0
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
ADAPTERS = ["core", "langchain", "litellm", "pydantic_ai", "crewai"]
ROOT = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent(f"""
    import asyncio, json, sys, time
    from pathlib import Path
    from kluster_agents.integrations._api import limits
    limits.RPM_WINDOW_S = limits.RPM_WINDOW_S / {SPEED}  # the minute scaled; the margin stays real time
    from tests.benchmarks import test_rate_limit as adapters

    go, name = Path(sys.argv[1]), sys.argv[2]
    make = getattr(adapters, "_" + name)
    warm_up = make({WARM_UP_MODEL!r})
    asyncio.run(warm_up(-1))
    call = make({MODEL!r})
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)

    async def main():
        return await asyncio.gather(*(call(i) for i in range({CALLS})), return_exceptions=True)

    outcomes = asyncio.run(main())
    errors = sorted({{type(o).__name__ for o in outcomes if isinstance(o, BaseException)}})
    failed = sum(isinstance(o, BaseException) for o in outcomes)
    print("RESULT " + json.dumps({{"failed": failed, "errors": errors}}), flush=True)
""")


@pytest.fixture(scope="module")
def emulator() -> Iterator[RemoteEmulator]:
    with controlled_emulator() as running:
        yield running


def _run(emulator: RemoteEmulator, tmp_path: Path, store: str | None) -> tuple[int, int, float]:
    """(429s answered, calls failed, fraction of the tier's RPM used) for one run of every worker."""
    emulator.control("set_tier", TIER)
    emulator.control("clock.set_speed", SPEED)
    emulator.control("enable_rate_limits")  # the tier's own RPM and concurrency, a fresh window
    emulator.control("clear_requests")
    emulator.record_rate_limiter()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KLUSTER_BASE_URL": emulator.base_url,
        "KLUSTER_API_KEY": emulator.api_key,
        "KLUSTER_TIER": TIER,
        "KLUSTER_WARN_ON_DROP": "false",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "CREWAI_DISABLE_TELEMETRY": "true",
        "OTEL_SDK_DISABLED": "true",
    }
    env.pop("KLUSTER_RATE_LIMIT_STORE", None)
    if store:
        env["KLUSTER_RATE_LIMIT_STORE"] = store
    go = tmp_path / f"go-{os.urandom(4).hex()}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), ADAPTERS[i % len(ADAPTERS)]],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(WORKERS)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    failed = 0
    for proc in procs:  # frameworks may print to stdout too: our line is marked
        assert proc.stdout is not None
        line = next(line for line in proc.stdout if line.startswith("RESULT "))
        result = json.loads(line.removeprefix("RESULT "))
        failed += result["failed"]
        if result["errors"]:
            print("failures:", result["errors"])
        proc.stdout.read()
        assert proc.wait(timeout=600) == 0
    rpm = get_model(MODEL).limits_for(TIER).rpm  # type: ignore[union-attr]
    admitted, _ = emulator.rate_limiter_log(MODEL)
    print(
        f"{'redis store' if store else 'per-process'}: {len(admitted)} admitted in {admitted[-1] - admitted[0]:.0f} emulated s"
    )
    windows = len(admitted) // rpm - 1
    fraction = windows * 60.0 / (admitted[windows * rpm] - admitted[0]) if windows > 0 else 0.0
    return emulator.statuses("/chat/completions").count(429), failed, fraction


@pytest.mark.timeout(3600)
def test_shared_limits_across_processes(emulator: RemoteEmulator, redis_server: RedisServer, tmp_path: Path) -> None:
    runs: dict[str, list[tuple[int, int, float]]] = {"redis store": [], "per-process": []}
    for _ in range(ROUNDS):
        for name in runs:  # interleaved, so machine load hits both alike
            if name == "redis store":
                redis.Redis.from_url(redis_server.url).flushdb()
            runs[name].append(_run(emulator, tmp_path, redis_server.url if name == "redis store" else None))
    limits = get_model(MODEL).limits_for(TIER)
    print(
        f"\n{WORKERS} processes x {CALLS} concurrent calls ({', '.join(ADAPTERS)} in turn), {TIER} tier "
        f"({limits.rpm if limits else '?'} RPM, {limits.concurrency if limits else '?'} concurrent), minute scaled to "
        f"{60 / SPEED:g} s, {ROUNDS} interleaved rounds"
    )
    print(f"{'limiter':<12} {'429s':>12} {'failed':>8} {'RPM used (median, min-max)':>30}")
    for name, results in runs.items():
        n429 = [r[0] for r in results]
        fractions = [r[2] for r in results]
        print(
            f"{name:<12} {sum(n429):>5} {n429!s:>6} {sum(r[1] for r in results):>8} "
            f"{statistics.median(fractions):>14.1%} {min(fractions):>6.1%}-{max(fractions):.1%}"
        )
    shared, local = runs["redis store"], runs["per-process"]
    used = statistics.median(r[2] for r in shared)
    print(f"goals (redis store): 0 x 429 -> {sum(r[0] for r in shared)}, >= 95% of the RPM -> {used:.1%}")
    assert sum(r[1] for r in shared) == 0  # no call lost
    assert used >= 0.95
    assert sum(r[0] for r in shared) == 0
    assert sum(r[0] for r in local) > 0  # the control: eight budgets on one tier are refused
