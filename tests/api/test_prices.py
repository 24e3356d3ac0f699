"""Prices per mode: real time from the captured page, batch only when set, dedicated endpoints never per token."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kluster_agents.integrations._api.catalog import register_model
from kluster_agents.integrations._api.prices import (
    REALTIME_PRICES,
    clear_price_overrides,
    cost_of,
    price_of,
    set_price,
)
from kluster_agents.integrations._jobs.batch.decode import BatchResult

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
USAGE = SimpleNamespace(prompt_tokens=1_000_000, completion_tokens=2_000_000)


@pytest.fixture(autouse=True)
def _no_overrides():
    clear_price_overrides()
    yield
    clear_price_overrides()


def test_realtime_cost_uses_the_captured_price() -> None:
    price = REALTIME_PRICES[LLAMA]
    assert cost_of(LLAMA, USAGE) == pytest.approx(price.input_per_million + 2 * price.output_per_million)


def test_batch_and_adaptive_have_no_price_until_set() -> None:
    assert price_of(LLAMA, mode="batch") is None and cost_of(LLAMA, USAGE, mode="adaptive") is None
    set_price(LLAMA, 0.35, 0.35, mode="batch")
    assert cost_of(LLAMA, USAGE, mode="adaptive") == pytest.approx(0.35 * 3)
    assert price_of(LLAMA).input_per_million == REALTIME_PRICES[LLAMA].input_per_million  # real time unchanged


def test_dedicated_endpoints_are_not_priced_per_token_at_their_base_rate() -> None:
    endpoint = register_model("dedicated-llama-70b-abc123", base=LLAMA)
    assert price_of(endpoint.id) is None and cost_of(endpoint.id, USAGE) is None
    fine_tuned = register_model("ft:klusterai:Meta-Llama-3.3-70B-Instruct-Turbo:personal:805b5d69", kind="fine-tuned")
    assert price_of(fine_tuned.id) == REALTIME_PRICES[LLAMA]


def test_batch_result_cost_is_unknown_without_batch_prices() -> None:
    line = (
        '{"id":"x","custom_id":"a","response":{"status_code":200,"request_id":"r","body":{"id":"c","object":'
        '"chat.completion","created":1,"model":"' + LLAMA + '","choices":[{"index":0,"finish_reason":"stop",'
        '"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":10,"completion_tokens":5,'
        '"total_tokens":15}}},"error":null}'
    )
    result = BatchResult("a", 0, "succeeded", payload=line)
    assert result.cost is None
    set_price(LLAMA, 1.0, 2.0, mode="batch")
    assert result.cost == pytest.approx((10 * 1.0 + 5 * 2.0) / 1_000_000)
