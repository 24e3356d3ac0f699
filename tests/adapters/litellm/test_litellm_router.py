"""`kluster_router()`: tier presets, fallbacks, and 429 handling (Retry-After, fallback)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import respx

from kluster_agents.adapters.litellm import kluster_router
from kluster_agents.integrations import KlusterConfigError, KlusterSettings

from .conftest import HI, LLAMA, LLAMA_8B, chat_bodies

HELLO = [{"role": "user", "content": "hello"}]


def test_deployments_carry_the_tier_limits():
    router = kluster_router([LLAMA, "kluster/llama-8b"], tier="trial", fallbacks=None)
    params = {d["model_name"]: d["litellm_params"] for d in router.model_list}
    assert set(params) == {LLAMA, "llama-8b"}
    assert params[LLAMA]["model"] == f"kluster/{LLAMA}"
    assert (params[LLAMA]["rpm"], params[LLAMA]["max_parallel_requests"]) == (30, 20)
    assert params["llama-8b"]["model"] == f"kluster/{LLAMA_8B}"
    assert "api_key" not in params[LLAMA]  # read from KLUSTER_API_KEY at call time
    core = kluster_router([LLAMA], tier="core")
    assert core.model_list[0]["litellm_params"]["rpm"] == 600


def test_fallbacks_chain_and_validation():
    router = kluster_router([LLAMA, LLAMA_8B])
    assert router.fallbacks == [{LLAMA: [LLAMA_8B]}, {LLAMA_8B: [LLAMA]}]
    custom = kluster_router([LLAMA, LLAMA_8B], fallbacks={f"kluster/{LLAMA}": [LLAMA_8B]})
    assert custom.fallbacks == [{LLAMA: [LLAMA_8B]}]
    with pytest.raises(KlusterConfigError, match="not in the router"):
        kluster_router([LLAMA], fallbacks={LLAMA: ["deepseek-ai/DeepSeek-V3-0324"]})
    with pytest.raises(KlusterConfigError):
        kluster_router([])


def test_explicit_settings_go_into_the_deployments():
    settings = KlusterSettings(api_key="sk-router-secret", base_url="http://127.0.0.1:9/v1", tier="scale")
    router = kluster_router([LLAMA], settings=settings)
    params = router.model_list[0]["litellm_params"]
    assert params["api_base"] == "http://127.0.0.1:9/v1" and params["rpm"] == 1200


def test_429_falls_back_to_the_next_kluster_model(emulator):
    emulator.controls.clock.freeze()
    emulator.controls.enable_rate_limits(rpm=1)
    router = kluster_router([LLAMA, LLAMA_8B], num_retries=0)
    first = router.completion(model=LLAMA, messages=HELLO)
    second = router.completion(model=LLAMA, messages=HELLO)
    assert (first.model, second.model) == (LLAMA, LLAMA_8B)
    assert [r.status for r in emulator.controls.requests] == [200, 429, 200]


async def test_concurrency_429_is_retried_after_retry_after(emulator):
    emulator.controls.enable_rate_limits(concurrency=1)
    emulator.controls.add_latency(0.3, times=1)
    router = kluster_router([LLAMA], fallbacks=None, num_retries=2)
    results = await asyncio.gather(*(router.acompletion(model=LLAMA, messages=HELLO) for _ in range(2)))
    assert all(r.choices[0].message.content for r in results)
    assert sorted(r.status for r in emulator.controls.requests) == [200, 200, 429]
    assert len(chat_bodies(emulator)) == 3


def test_retry_after_header_sets_the_wait():
    """Without the header LiteLLM would back off 0.5s (+<=0.75s jitter); Retry-After: 2 must win."""
    settings = KlusterSettings(api_key="sk-test", base_url="http://kluster.test/v1")
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("http://kluster.test/v1/chat/completions").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "2"}, json={"error": {"message": "slow down"}}),
                httpx.Response(200, json=HI),
            ]
        )
        router = kluster_router([LLAMA], fallbacks=None, num_retries=1, settings=settings)
        start = time.monotonic()
        answer = router.completion(model=LLAMA, messages=HELLO)
        waited = time.monotonic() - start
    assert answer.choices[0].message.content == "hi" and route.call_count == 2
    assert 2.0 <= waited < 4.0
