"""Verify benchmarks (run: `uv run pytest -m benchmark tests/benchmarks/test_verify_overhead.py -s`).

1. Overhead per check of VerifyClient and VerifyPolicy vs a raw httpx POST on the same mock
   transport (target <= 1.10x). Measured with an instant transport (pure client-side cost) and
   with 2 ms of simulated service latency (the real Verify takes seconds, so this is still
   pessimistic for the ratio).
2. Throughput of N concurrent checks against the emulator with the tier's rate limits enforced:
   the client-side limiter must keep every request under the limits (zero 429s).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import httpx
import pytest

from kluster_agents.integrations._api.catalog import VERIFY_MODEL, get_model
from kluster_agents.integrations._api.errors import KlusterRateLimitError
from kluster_agents.integrations._api.limits import RateLimiter
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._verify.client import VerifyClient
from kluster_agents.integrations._verify.policy import VerifyPolicy

from ._timing import Samples, compare, interleave

pytestmark = pytest.mark.benchmark

BASE_URL = "http://verify.bench/v1"
KEY = "kl-bench-key-000111"
ANSWER = json.dumps(
    {
        "is_hallucination": False,
        "explanation": "Supported by general knowledge.",
        "usage": {"completion_tokens": 40, "prompt_tokens": 900, "total_tokens": 940},
        "search_results": [],
    }
).encode()


def _transport(latency_s: float) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if latency_s:
            time.sleep(latency_s)
        return httpx.Response(200, content=ANSWER, headers={"content-type": "application/json"})

    return httpx.MockTransport(handler)


def _measure(latency_s: float, n: int, rounds: int = 9) -> dict[str, Samples]:
    settings = KlusterSettings.load(api_key=KEY, base_url=BASE_URL, max_retries=0)
    raw = httpx.Client(transport=_transport(latency_s))
    headers = {"Authorization": f"Bearer {KEY}", "User-Agent": "bench"}
    client = VerifyClient(
        settings,
        http_client=httpx.Client(transport=_transport(latency_s)),
        limiter=RateLimiter(rpm=None, concurrency=100),
    )
    policy = VerifyPolicy("annotate", client=client, cache=False)

    def raw_call(i: int) -> None:
        raw.post(f"{BASE_URL}/verify/reliability", json={"prompt": "q", "output": f"a{i}"}, headers=headers).json()

    answers = itertools.count()  # a new output each call: no cache can answer
    candidates = {
        "raw httpx": lambda: raw_call(next(answers)),
        "VerifyClient.verify": lambda: client.verify("q", f"a{next(answers)}"),
        "VerifyPolicy.check": lambda: policy.check("q", f"a{next(answers)}"),
    }
    return interleave(candidates, rounds=rounds, per_round=n, warmup=50)


@pytest.mark.parametrize(("latency_s", "n"), [(0.0, 400), (0.002, 60)], ids=["instant", "2ms-latency"])
def test_policy_overhead_vs_raw_httpx(latency_s, n):
    samples = _measure(latency_s, n)
    base = samples["raw httpx"].median
    print(
        f"\nVerify overhead per check, mock transport with {latency_s * 1000:.0f} ms latency (median [min-max] of 9 rounds):"
    )
    for name in ("VerifyClient.verify", "VerifyPolicy.check"):
        result = compare(samples, name, "raw httpx")
        print(f"  {result.describe('µs')}  (+{(result.ours.median - base) * 1e6:.1f} µs)")
    if latency_s:
        assert compare(samples, "VerifyPolicy.check", "raw httpx").ratio <= 1.10


CONVERSATION = [
    {"role": "user", "content": "Where is the Eiffel Tower?"},
    {"role": "assistant", "content": "The Eiffel Tower is in Paris."},
]


async def _burst(client: VerifyClient, n: int) -> tuple[float, list]:
    started = time.perf_counter()
    results = await asyncio.gather(
        *(client.averify_conversation(CONVERSATION) for _ in range(n)), return_exceptions=True
    )
    return time.perf_counter() - started, results


@pytest.mark.kluster_emulator(tier="core")
async def test_concurrent_checks_under_tier_limits_without_429(kluster_emulator):
    """The emulator enforces the core tier's per-model limits (600 RPM, 100 concurrent) on the
    chat route, in real time, with 50 ms of service latency (time in flight); chat-completion
    Verify goes through that route. 700 checks = the minute's 600 plus 100 that must be paced."""
    controls = kluster_emulator.controls
    controls.clock.set_speed(1.0)
    controls.add_latency(0.05, times=None, path="/v1/chat/completions")
    controls.enable_rate_limits()
    settings = resolve_settings(kluster_emulator.settings, max_retries=0)
    limits = get_model(VERIFY_MODEL).limits_for(settings.tier)
    n = 700

    unlimited = VerifyClient(settings, limiter=False)
    elapsed_raw, raw = await _burst(unlimited, n)
    raw_429 = sum(isinstance(r, KlusterRateLimitError) for r in raw)

    controls.enable_rate_limits()  # a fresh window for the paced run
    limiter = RateLimiter(limits.rpm, limits.concurrency, clock=controls.clock.now, name="bench")
    paced = VerifyClient(settings, limiter=limiter)
    elapsed, results = await _burst(paced, n)
    failures = [r for r in results if isinstance(r, BaseException)]
    print(
        f"\n{n} concurrent chat-completion Verify checks, {settings.tier.value} tier "
        f"({limits.rpm} RPM, {limits.concurrency} concurrent, 50 ms latency):"
    )
    print(f"  without limiter: {elapsed_raw:5.2f} s, {raw_429} of {n} answered 429")
    print(
        f"  with limiter:    {elapsed:5.2f} s, {n / elapsed:6.1f} checks/s real, "
        f"429s: {limiter.rate_limited}, failures: {len(failures)}"
    )
    assert not failures and limiter.rate_limited == 0
    assert raw_429 > 0  # the limits really were enforced
