"""Overhead of `litellm.completion(model="kluster/...")` (our registration: compat + our client)
vs LiteLLM's plain `openai/` route with `api_base`, on the SAME mocked transport, in one run.

Both routes end in the openai SDK over httpx; respx answers every request from memory, so the
ratio measures the adapters, not a network (interleaved rounds, median + spread: `_timing`). Target: <= 1.05x.
Run: uv run pytest -m benchmark tests/benchmarks/test_litellm_overhead.py -s
"""

from __future__ import annotations

import httpx
import pytest
import respx

litellm = pytest.importorskip("litellm")

from kluster_agents.adapters.litellm import register  # noqa: E402

from ._timing import compare, interleave  # noqa: E402

pytestmark = pytest.mark.benchmark

BASE = "http://bench.kluster.test/v1"
MODEL_ID = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the benchmark."}]
BODY = {
    "id": "chat-bench",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": MODEL_ID,
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello, benchmark!"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
}
ROUNDS, CALLS, WARMUP = 7, 60, 30


def test_litellm_registration_overhead(monkeypatch):
    monkeypatch.setenv("KLUSTER_API_KEY", "sk-bench")
    monkeypatch.setenv("KLUSTER_BASE_URL", BASE)
    monkeypatch.setattr(litellm, "suppress_debug_info", True)
    register()

    def ours():
        litellm.completion(model=f"kluster/{MODEL_ID}", messages=MESSAGES, max_tokens=32, temperature=0.2)

    def plain():
        litellm.completion(
            model=f"openai/{MODEL_ID}",
            messages=MESSAGES,
            max_tokens=32,
            temperature=0.2,
            api_base=BASE,
            api_key="sk-bench",
        )

    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=BODY))
        samples = interleave(
            {"kluster/": ours, "openai/ + api_base": plain}, rounds=ROUNDS, per_round=CALLS, warmup=WARMUP
        )
    result = compare(samples, "kluster/", "openai/ + api_base")
    print(
        f"\nlitellm.completion per call ({CALLS} calls a round, same respx transport, "
        f"{route.call_count} mocked requests): {result.describe()}"
    )
    assert result.ratio <= 1.05, f"kluster/ route is {result.ratio:.2f}x the plain openai/ route (target <= 1.05x)"
