"""`ModelResponse.cost()` on kluster models: our prices through genai-prices, and no figure without one."""

from __future__ import annotations

from decimal import Decimal

import pytest
from genai_prices import calc_price
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart
from pydantic_ai.usage import RequestUsage

from kluster_agents.adapters.pydantic_ai import KlusterModelSettings, KlusterProvider, kluster_model, run_many
from kluster_agents.integrations._api.catalog import register_model
from kluster_agents.integrations._api.prices import clear_price_overrides, set_price

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


def response(model: str, url: str = "https://api.kluster.ai/v1") -> ModelResponse:
    return ModelResponse(
        parts=[TextPart("x")],
        usage=RequestUsage(input_tokens=1_000, output_tokens=2_000),
        model_name=model,
        provider_name="kluster",
        provider_url=url,
    )


def test_a_runs_cost_is_tokens_times_our_price(kluster_emulator) -> None:
    agent = Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings)))
    result = agent.run_sync("Capital of Nepal?")
    last = result.all_messages()[-1]
    assert isinstance(last, ModelResponse) and last.usage.input_tokens and last.usage.output_tokens
    expected = (
        Decimal(last.usage.input_tokens) * Decimal("0.70") + Decimal(last.usage.output_tokens) * Decimal("0.70")
    ) / 10**6
    assert last.cost().total_price == expected  # priced by provider name: the emulator's URL is not kluster's


def test_catalog_prices_by_url_and_user_overrides_apply() -> None:
    price = response("deepseek-ai/DeepSeek-V3-0324").cost()
    assert (price.input_price, price.output_price) == (Decimal("0.0007"), Decimal("0.0028"))
    set_price("deepseek-ai/DeepSeek-V3-0324", 1.0, 2.0)
    try:
        assert response("deepseek-ai/DeepSeek-V3-0324").cost().total_price == Decimal("0.005")
    finally:
        clear_price_overrides()


@pytest.mark.parametrize("model", ["my-endpoint-llama-70b", "no-such-model"])
def test_no_figure_for_models_without_a_known_price(model: str) -> None:
    register_model("my-endpoint-llama-70b", base=LLAMA)  # dedicated: billed per minute, not per token
    with pytest.raises(LookupError, match="kluster"):
        response(model).cost()


def test_other_providers_are_priced_as_before() -> None:
    kluster_model(LLAMA, api_key="k")  # installs the kluster prices
    usage = RequestUsage(input_tokens=1_000_000, output_tokens=0)
    assert calc_price(usage, "gpt-4o", provider_id="openai").total_price > 0


async def test_batch_and_adaptive_answers_are_priced_at_batch_rates(kluster_emulator) -> None:
    agent = Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings)))
    (batched,) = await run_many(agent, ["hi"], via="batch", poll_interval=0.02)
    adaptive = await agent.run("hi", model_settings=KlusterModelSettings(kluster_adaptive=True))
    batched.unwrap()
    assert batched.result is not None
    answers = [batched.result.all_messages()[-1], adaptive.all_messages()[-1]]
    for answer in answers:
        assert isinstance(answer, ModelResponse) and answer.provider_name == "kluster-batch"
        with pytest.raises(LookupError, match="batch"):  # none published: no realtime figure instead
            answer.cost()
    set_price(LLAMA, 0.35, 0.35, mode="batch")
    try:
        for answer in answers:
            usage = answer.usage
            assert (
                answer.cost().total_price == Decimal(usage.input_tokens + usage.output_tokens) * Decimal("0.35") / 10**6
            )
    finally:
        clear_price_overrides()
