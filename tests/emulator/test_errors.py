"""Fidelity modes and error statuses: 400 per unsupported parameter (strict), acceptance (lenient),
docs-strict tool_calls rejection, 401, 404, 413/400 for oversize input, 429 + Retry-After."""

from __future__ import annotations

import httpx
import openai
import pytest

from kluster_agents.integrations._api.compat import DOCS_UNSUPPORTED_PARAMS

from .helpers import LLAMA_8B, NO_TOOLS_MODEL, TEXT_ONLY_MODEL, WEATHER_TOOL, user

PARAM_VALUES = {
    "store": True,
    "n": 2,
    "modalities": ["text"],
    "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    "service_tier": "auto",
    "stream_options": {"include_usage": True},
}
TOOL_TURN = [
    {"role": "user", "content": "weather?"},
    {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "audio": None,
        "function_call": None,
        "annotations": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
]


def _create(client: openai.OpenAI, **kwargs):
    kwargs.setdefault("model", LLAMA_8B)
    kwargs.setdefault("messages", user("hi"))
    return client.chat.completions.create(**kwargs)


@pytest.mark.parametrize("param", DOCS_UNSUPPORTED_PARAMS)
def test_strict_rejects_each_unsupported_param(client: openai.OpenAI, param: str) -> None:
    extra = {"stream": True} if param == "stream_options" else {}
    with pytest.raises(openai.BadRequestError) as info:
        _create(client, **{param: PARAM_VALUES[param]}, **extra)
    error = info.value.body
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["code"] == "unsupported_parameter"


@pytest.mark.parametrize("field,value", [("name", "bob"), ("refusal", "no"), ("audio", {"id": "a1"})])
def test_strict_rejects_message_fields(client: openai.OpenAI, field: str, value) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _create(client, messages=[{"role": "user", "content": "hi", field: value}])
    assert info.value.body["param"] == f"messages[0].{field}"


@pytest.mark.parametrize(
    "kwargs,param",
    [
        ({"model": NO_TOOLS_MODEL, "tools": [WEATHER_TOOL]}, "tools"),
        ({"model": NO_TOOLS_MODEL, "tool_choice": "auto"}, "tool_choice"),
        (
            {
                "model": TEXT_ONLY_MODEL,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this"},
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                        ],
                    }
                ],
            },
            "messages[0].content",
        ),
        ({"max_completion_tokens": 10**7}, "max_completion_tokens"),
    ],
)
def test_strict_rejects_model_capability_violations(client: openai.OpenAI, kwargs, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _create(client, **kwargs)
    assert info.value.body["param"] == param


@pytest.mark.kluster_emulator(tier="trial")
def test_trial_tier_max_output(client: openai.OpenAI) -> None:
    _create(client, max_completion_tokens=4000)
    with pytest.raises(openai.BadRequestError):
        _create(client, max_completion_tokens=4001)


def test_max_tokens_is_deprecated_but_accepted(client: openai.OpenAI) -> None:
    assert _create(client, max_tokens=50).choices[0].message.content


def test_strict_accepts_native_tool_loop(client: openai.OpenAI) -> None:
    completion = _create(client, messages=TOOL_TURN, tools=[WEATHER_TOOL])
    assert "sunny" in completion.choices[0].message.content


@pytest.mark.kluster_emulator(mode="docs-strict")
def test_docs_strict_rejects_tool_calls(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _create(client, messages=TOOL_TURN, tools=[WEATHER_TOOL])
    assert info.value.body["param"] == "messages[1].tool_calls"


@pytest.mark.kluster_emulator(mode="docs-strict")
def test_docs_strict_allows_tools_only_on_llama(client: openai.OpenAI) -> None:
    _create(client, tools=[WEATHER_TOOL])
    with pytest.raises(openai.BadRequestError):
        _create(client, model="deepseek-ai/DeepSeek-V3-0324", tools=[WEATHER_TOOL])


def test_strict_accepts_json_mode_as_observed(client: openai.OpenAI) -> None:
    assert _create(client, response_format={"type": "json_object"}).choices[0].message.content is not None


@pytest.mark.kluster_emulator(mode="docs-strict")
def test_docs_strict_refuses_json_mode_as_documented(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        _create(client, response_format={"type": "json_object"})


@pytest.mark.kluster_emulator(mode="lenient")
def test_lenient_accepts_everything(client: openai.OpenAI) -> None:
    completion = _create(
        client,
        model=NO_TOOLS_MODEL,
        n=1,
        store=True,
        response_format={"type": "json_object"},
        service_tier="auto",
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "hi", "name": "bob"}, *TOOL_TURN[1:]],
    )
    assert completion.choices[0].message.content


def test_mode_switch_through_controls(client: openai.OpenAI, controls) -> None:
    controls.set_mode("lenient")
    assert _create(client, n=2)
    controls.set_mode("strict")
    with pytest.raises(openai.BadRequestError):
        _create(client, n=2)


def test_wrong_or_missing_key_is_401(kluster_emulator) -> None:
    bad = openai.OpenAI(base_url=kluster_emulator.base_url, api_key="wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.models.list()
    assert info.value.body["code"] == "invalid_api_key"
    assert "wrong-key" not in str(info.value.body)
    missing = httpx.get(f"{kluster_emulator.base_url}/models")
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "invalid_request_error"


def test_unknown_model_and_route_are_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        _create(client, model="acme/unknown-model")
    assert info.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.get("/nothing-here", cast_to=object)


def test_body_over_limit_is_413(client: openai.OpenAI, controls) -> None:
    controls.max_request_bytes = 1000
    with pytest.raises(openai.APIStatusError) as info:
        _create(client, messages=user("x" * 2000))
    assert info.value.status_code == 413


@pytest.mark.kluster_emulator(tier="trial")
def test_prompt_over_context_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _create(client, messages=user("word " * 40_000))
    assert info.value.body["code"] == "context_length_exceeded"


def test_rpm_limit_429_with_retry_after_on_emulated_clock(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    controls.enable_rate_limits(rpm=2)
    _create(client)
    _create(client)
    with pytest.raises(openai.RateLimitError) as info:
        _create(client)
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 60
    controls.advance(61)
    assert _create(client)


@pytest.mark.kluster_emulator(tier="trial")
def test_tier_rpm_from_catalog(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    controls.enable_rate_limits()
    for _ in range(30):  # trial: 30 requests per minute
        _create(client)
    with pytest.raises(openai.RateLimitError):
        _create(client)


async def test_concurrency_limit_429(aclient: openai.AsyncOpenAI, controls) -> None:
    import asyncio

    controls.enable_rate_limits(concurrency=1)
    controls.add_latency(0.3, path="/chat/completions", times=1)
    results = await asyncio.gather(
        aclient.chat.completions.create(model=LLAMA_8B, messages=user("slow")),
        _delayed(aclient),
        return_exceptions=True,
    )
    assert isinstance(results[1], openai.RateLimitError)
    assert results[1].response.headers["retry-after"] == "1"


async def _delayed(aclient: openai.AsyncOpenAI):
    import asyncio

    await asyncio.sleep(0.1)
    return await aclient.chat.completions.create(model=LLAMA_8B, messages=user("second"))


def test_rate_limits_off_by_default(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    for _ in range(40):
        _create(client)
