"""LiteLLM's own provider checks (what its test suite asks of built-in providers), where they apply
to a custom provider: parameters reach the handler, drop_params, usage, stream chunk shape, cost."""

from __future__ import annotations

import litellm
import pytest
from litellm.types.utils import ModelResponse, ModelResponseStream

from kluster_agents.adapters.litellm import _handler, batch_completion_via_api
from kluster_agents.adapters.litellm._model_map import model_info_entry
from kluster_agents.adapters.litellm._response import COST_HEADER
from kluster_agents.integrations import KlusterSettings
from kluster_agents.integrations._api.catalog import get_model, register_model
from kluster_agents.integrations._api.compat import KlusterCompatWarning
from kluster_agents.integrations._api.prices import clear_price_overrides, set_price

from .conftest import GEMMA, LLAMA

MODEL = f"kluster/{LLAMA}"
R1 = "deepseek-ai/DeepSeek-R1-0528"
HELLO = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def handler_params(monkeypatch) -> list[dict]:
    """The optional_params each call hands the kluster handler."""
    seen: list[dict] = []
    original = _handler.create_kwargs

    def spy(model, messages, optional_params, headers, timeout):
        seen.append(dict(optional_params))
        return original(model, messages, optional_params, headers, timeout)

    monkeypatch.setattr(_handler, "create_kwargs", spy)
    return seen


@pytest.fixture
def _prices():
    yield
    clear_price_overrides()


def test_reasoning_effort_reaches_the_handler(emulator, handler_params):
    with pytest.warns(KlusterCompatWarning, match="reasoning_effort"):
        litellm.completion(model=f"kluster/{R1}", messages=HELLO, reasoning_effort="high")
    assert handler_params[-1]["reasoning_effort"] == "high"


def test_drop_params_does_not_raise_on_an_unsupported_param(emulator):
    with pytest.warns(KlusterCompatWarning):
        response = litellm.completion(model=f"kluster/{GEMMA}", messages=HELLO, n=3, drop_params=True)
    assert response.choices[0].message.content


def test_usage_on_a_completion(emulator):
    response = litellm.completion(model=MODEL, messages=HELLO)
    assert isinstance(response, ModelResponse)
    usage = response.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_chunk_shape_and_final_usage(emulator):
    chunks = list(litellm.completion(model=MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}))
    assert chunks and all(isinstance(c, ModelResponseStream) for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage = next(c.usage for c in reversed(chunks) if getattr(c, "usage", None))
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    rebuilt = litellm.stream_chunk_builder(chunks, messages=HELLO)
    assert rebuilt.usage.completion_tokens == usage.completion_tokens


def test_completion_cost_for_a_catalog_model(emulator):
    response = litellm.completion(model=MODEL, messages=HELLO)
    cost = litellm.completion_cost(response, model=MODEL)
    usage = response.usage
    assert cost == pytest.approx((usage.prompt_tokens + usage.completion_tokens) * 0.70 / 1_000_000)
    assert cost > 0


def test_batch_results_carry_batch_prices_only(emulator, _prices):
    request = {"model": MODEL, "messages": HELLO}
    (unpriced,) = batch_completion_via_api([request], journal=False, poll_interval=0.02)
    assert "response_cost" not in unpriced._hidden_params  # no batch price published: no figure at all
    set_price(LLAMA, 0.35, 0.35, mode="batch")
    (priced,) = batch_completion_via_api([request], journal=False, poll_interval=0.02)
    usage = priced.usage
    expected = (usage.prompt_tokens + usage.completion_tokens) * 0.35 / 1_000_000
    assert priced._hidden_params["response_cost"] == pytest.approx(expected)
    assert priced._hidden_params["additional_headers"][COST_HEADER] == pytest.approx(expected)


def test_adaptive_answers_cost_at_batch_prices(emulator, _prices):
    set_price(LLAMA, 0.10, 0.20, mode="batch")
    response = litellm.completion(model=MODEL, messages=HELLO, adaptive=True)
    usage = response.usage
    expected = (usage.prompt_tokens * 0.10 + usage.completion_tokens * 0.20) / 1_000_000
    assert response._hidden_params["response_cost"] == pytest.approx(expected)


def test_model_map_prices_per_mode(_prices):
    settings = KlusterSettings()
    assert "input_cost_per_token_batches" not in model_info_entry(get_model(LLAMA), settings)
    set_price(LLAMA, 0.35, 0.50, mode="batch")
    entry = model_info_entry(get_model(LLAMA), settings)
    assert entry["output_cost_per_token_batches"] == pytest.approx(0.50 / 1_000_000)
    dedicated = model_info_entry(register_model("endpoint-cost-1", base=LLAMA), settings)
    assert "input_cost_per_token" not in dedicated  # billed per minute, not per token
