"""`kluster/` in LiteLLM beyond the basics: reasoning in streams, stream usage, `response_format`,
the supported-params list, prices and `completion_cost`, timeouts, and no tokenizer download."""

from __future__ import annotations

import time
from typing import Any

import litellm
import pytest
from pydantic import BaseModel

from kluster_agents.integrations._api.prices import REALTIME_PRICES, clear_price_overrides, set_price

from .conftest import GEMMA, LLAMA, chat_bodies

R1 = "kluster/deepseek-ai/DeepSeek-R1-0528"
ASK = [{"role": "user", "content": "Why is the sky blue?"}]


class City(BaseModel):
    name: str
    country: str


def test_stream_splits_think_into_reasoning_content_like_the_non_streamed_path(emulator: Any) -> None:
    whole = litellm.completion(model=R1, messages=ASK)
    chunks = list(litellm.completion(model=R1, messages=ASK, stream=True))
    streamed = litellm.stream_chunk_builder(chunks).choices[0].message
    assert "<think>" not in streamed.content and streamed.content.strip() == whole.choices[0].message.content.strip()
    assert streamed.reasoning_content.strip() == whole.choices[0].message.reasoning_content.strip()
    assert "Why is the sky blue" in streamed.reasoning_content


async def test_async_stream_splits_think_too(emulator: Any) -> None:
    chunks = [c async for c in await litellm.acompletion(model=R1, messages=ASK, stream=True)]
    message = litellm.stream_chunk_builder(chunks).choices[0].message
    assert "<think>" not in message.content and message.reasoning_content.strip()


@pytest.mark.parametrize("accept", [False, True], ids=["refused-estimated", "accepted-real"])
def test_stream_usage_is_not_zero(emulator: Any, accept: bool) -> None:
    emulator.controls.accept_stream_options = accept
    chunks = list(litellm.completion(model=f"kluster/{LLAMA}", messages=ASK, stream=True))
    usage = litellm.stream_chunk_builder(chunks).usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    asked = ["stream_options" in b for b in chat_bodies(emulator)]
    assert asked == ([True] if accept else [True, False])


def test_server_usage_chunk_reaches_the_caller(emulator: Any) -> None:
    emulator.controls.accept_stream_options = True
    chunks = list(
        litellm.completion(model=f"kluster/{LLAMA}", messages=ASK, stream=True, stream_options={"include_usage": True})
    )
    usages = [c.usage for c in chunks if getattr(c, "usage", None) is not None]
    whole = litellm.completion(model=f"kluster/{LLAMA}", messages=ASK)
    assert usages and usages[-1].total_tokens == whole.usage.total_tokens  # the emulator's own count


def test_response_format_model_becomes_a_forced_tool_call_on_tool_models(emulator: Any) -> None:
    reply = litellm.completion(
        model=f"kluster/{LLAMA}", messages=[{"role": "user", "content": "Paris, France"}], response_format=City
    )
    City.model_validate_json(reply.choices[0].message.content)
    (body,) = chat_bodies(emulator)
    assert "response_format" not in body and body["tool_choice"]["function"]["name"] == "City"


@pytest.mark.parametrize("model", [f"kluster/{GEMMA}", R1])
def test_response_format_model_is_prompted_json_on_models_without_tools(emulator: Any, model: str) -> None:
    reply = litellm.completion(
        model=model, messages=[{"role": "user", "content": "Paris, France"}], response_format=City
    )
    City.model_validate_json(reply.choices[0].message.content)
    body = chat_bodies(emulator)[0]
    assert "response_format" not in body and "tools" not in body
    assert '"properties"' in body["messages"][0]["content"]  # the schema is in the system prompt


async def test_response_format_streams_and_async(emulator: Any) -> None:
    chunks = [
        c
        async for c in await litellm.acompletion(
            model=f"kluster/{GEMMA}", messages=[{"role": "user", "content": "Oslo"}], response_format=City, stream=True
        )
    ]
    City.model_validate_json(litellm.stream_chunk_builder(chunks).choices[0].message.content)


def test_json_object_passes_through_natively(emulator: Any) -> None:
    litellm.completion(
        model=f"kluster/{LLAMA}",
        messages=[{"role": "user", "content": "a JSON object please"}],
        response_format={"type": "json_object"},
    )
    (body,) = chat_bodies(emulator)
    assert body["response_format"] == {"type": "json_object"}


def test_supported_params_are_klusters() -> None:
    llama = litellm.get_supported_openai_params(LLAMA, "kluster")
    r1 = litellm.get_supported_openai_params("deepseek-ai/DeepSeek-R1-0528", "kluster")
    assert not {"n", "store", "stream_options", "audio", "modalities", "service_tier"} & set(llama)
    assert {"tools", "tool_choice", "response_format", "max_completion_tokens"} <= set(llama)
    assert "reasoning_effort" in r1 and "tools" not in r1 and "reasoning_effort" not in llama
    assert "n" in litellm.get_supported_openai_params("gpt-4o", "openai")  # other providers untouched


def test_reasoning_effort_is_dropped_not_raised(emulator: Any) -> None:
    # LiteLLM's OpenAI-like mapping leaves it out of the provider's params; compat would drop it too
    litellm.completion(model=R1, messages=ASK, reasoning_effort="low")
    (body,) = chat_bodies(emulator)
    assert "reasoning_effort" not in body


def test_completion_cost_uses_the_price_data(emulator: Any) -> None:
    reply = litellm.completion(model=f"kluster/{LLAMA}", messages=ASK)
    price = REALTIME_PRICES[LLAMA]
    expected = (
        reply.usage.prompt_tokens * price.input_per_million + reply.usage.completion_tokens * price.output_per_million
    ) / 1e6
    assert litellm.completion_cost(completion_response=reply) == pytest.approx(expected)
    assert expected > 0


def test_prices_can_be_overridden() -> None:
    from kluster_agents.adapters.litellm import register

    try:
        set_price("llama-3.3-70b", 1.0, 2.0)
        register()
        info = litellm.get_model_info(f"kluster/{LLAMA}")
        assert (info["input_cost_per_token"], info["output_cost_per_token"]) == (1e-6, 2e-6)
    finally:
        clear_price_overrides()
        register()


def test_kluster_timeout_is_honoured(monkeypatch: pytest.MonkeyPatch, silent_server: str) -> None:
    monkeypatch.setenv("KLUSTER_BASE_URL", silent_server)
    monkeypatch.setenv("KLUSTER_API_KEY", "k")
    monkeypatch.setenv("KLUSTER_TIMEOUT", "0.5")
    monkeypatch.setenv("KLUSTER_MAX_RETRIES", "0")
    started = time.monotonic()
    with pytest.raises(litellm.Timeout):
        litellm.completion(model=f"kluster/{LLAMA}", messages=ASK, num_retries=0)
    assert time.monotonic() - started < 5  # not LiteLLM's own 600 s


def test_explicit_litellm_timeout_wins(monkeypatch: pytest.MonkeyPatch, silent_server: str) -> None:
    monkeypatch.setenv("KLUSTER_BASE_URL", silent_server)
    monkeypatch.setenv("KLUSTER_API_KEY", "k")
    monkeypatch.setenv("KLUSTER_MAX_RETRIES", "0")
    started = time.monotonic()
    with pytest.raises(litellm.Timeout):
        litellm.completion(model=f"kluster/{LLAMA}", messages=ASK, timeout=0.5, num_retries=0)
    assert time.monotonic() - started < 5


def test_adapter_disables_the_hugging_face_tokenizer_download_by_default() -> None:
    import subprocess
    import sys

    code = "import kluster_agents.adapters.litellm, litellm; print(litellm.disable_hf_tokenizer_download)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "True"
