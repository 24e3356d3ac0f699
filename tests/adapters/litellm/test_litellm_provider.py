"""`register()` and the `kluster/<model>` provider against the emulator (strict mode: any
parameter kluster does not accept would be answered with a 400)."""

from __future__ import annotations

import litellm
import pytest

from kluster_agents.adapters.litellm import (
    KlusterLLM,
    LiteLLMKlusterConfigError,
    LiteLLMKlusterUnsupportedError,
    model_map,
    register,
)
from kluster_agents.integrations import KlusterSettings, KlusterUnsupportedError
from kluster_agents.integrations._api.compat import KlusterCompatWarning

from .conftest import GEMMA, HI, LLAMA, WEATHER_TOOL, chat_bodies

MODEL = f"kluster/{LLAMA}"
HELLO = [{"role": "user", "content": "Say hello"}]


def test_register_is_idempotent_and_updates_settings():
    first = register()
    second = register(KlusterSettings(api_key="sk-x", base_url="http://127.0.0.1:9/v1"))
    assert first is second
    assert [i["provider"] for i in litellm.custom_provider_map].count("kluster") == 1
    assert "kluster" in litellm.provider_list
    assert second.settings is not None and second.settings.base_url == "http://127.0.0.1:9/v1"
    register()
    assert first.settings is None


def test_model_info_comes_from_the_catalog():
    info = litellm.get_model_info(MODEL)
    assert (info["max_input_tokens"], info["max_output_tokens"], info["litellm_provider"]) == (
        131_000,
        131_000,
        "kluster",
    )
    assert litellm.supports_function_calling(MODEL) is True
    assert litellm.supports_function_calling(f"kluster/{GEMMA}") is False
    assert litellm.supports_vision(f"kluster/{GEMMA}") is True
    assert litellm.supports_function_calling("kluster/llama-3.3-70b") is True  # aliases too
    assert "input_cost_per_token" not in model_map()["kluster/mistralai/Mistral-Nemo-Instruct-2407"]  # no price known


def test_trial_tier_limits_in_model_map():
    entry = model_map(KlusterSettings(tier="trial"))[MODEL]
    assert (entry["max_input_tokens"], entry["max_output_tokens"], entry["rpm"]) == (32_000, 4_000, 30)


def test_completion_sends_only_what_kluster_accepts(emulator):
    named = [{"role": "user", "content": "Say hello", "name": "alice"}]
    with pytest.warns(KlusterCompatWarning) as warned:
        response = litellm.completion(
            model=MODEL, messages=named, max_tokens=20, store=True, stream_options=None, seed=7, top_k=3
        )
    dropped = sorted(str(w.message) for w in warned if w.category is KlusterCompatWarning)
    assert "does not store completions" in dropped[0] and "message field `name`" in dropped[1], dropped
    assert response.choices[0].message.content.startswith("[emulated]")
    assert response.usage.total_tokens > 0
    (body,) = chat_bodies(emulator)
    assert body["model"] == LLAMA
    assert body["max_completion_tokens"] == 20 and "max_tokens" not in body
    assert "store" not in body and "name" not in body["messages"][0]
    assert body["seed"] == 7 and body["top_k"] == 3  # provider extras pass through in the body


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"n": 2}, "n"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"max_tokens": 10**7}, "max_completion_tokens"),
    ],
)
def test_refusals_are_typed_and_raised_before_the_network(emulator, params, parameter):
    with pytest.raises(KlusterUnsupportedError) as caught:
        litellm.completion(model=MODEL, messages=HELLO, **params)
    assert isinstance(caught.value, litellm.BadRequestError)  # LiteLLM passes it through unchanged
    assert isinstance(caught.value, LiteLLMKlusterUnsupportedError)
    assert caught.value.parameter == parameter and caught.value.model == LLAMA
    assert chat_bodies(emulator) == []


def test_tools_on_a_model_without_tools_are_refused(emulator):
    with pytest.raises(KlusterUnsupportedError, match="tools"):
        litellm.completion(model=f"kluster/{GEMMA}", messages=HELLO, tools=[WEATHER_TOOL])
    assert chat_bodies(emulator) == []


def test_tool_call_round_trip(emulator):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = litellm.completion(model=MODEL, messages=messages, tools=[WEATHER_TOOL], tool_choice="auto")
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    final = litellm.completion(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    assert "18C and sunny" in final.choices[0].message.content
    assert chat_bodies(emulator)[1]["messages"][1]["tool_calls"][0]["id"] == call.id


def test_sync_stream(emulator):
    chunks = list(litellm.completion(model=MODEL, messages=HELLO, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "[emulated] reply to: Say hello"
    assert chunks[-1].choices[0].finish_reason == "stop"
    probe, body = chat_bodies(emulator)  # the docs' refusal of stream_options: probed once, then not sent
    assert probe["stream_options"] == {"include_usage": True}
    assert body["stream"] is True and "stream_options" not in body


def test_a_settings_change_after_the_first_call_is_honoured(emulator, monkeypatch):
    """Clients are cached per settings object: a changed KLUSTER_* variable gets a new client."""
    monkeypatch.setenv("KLUSTER_STREAM_USAGE", "estimate")
    list(litellm.completion(model=MODEL, messages=HELLO, stream=True))
    monkeypatch.setenv("KLUSTER_STREAM_USAGE", "auto")
    list(litellm.completion(model=MODEL, messages=HELLO, stream=True))
    estimated, probe, fallback = chat_bodies(emulator)
    assert "stream_options" not in estimated  # estimate: never asks
    assert probe["stream_options"] == {"include_usage": True} and "stream_options" not in fallback  # auto: asks


async def test_async_completion_and_stream_with_tools(emulator):
    response = await litellm.acompletion(model=MODEL, messages=HELLO)
    assert response.choices[0].message.content == "[emulated] reply to: Say hello"
    weather = [{"role": "user", "content": "What is the weather in Paris?"}]  # a greeting gets text, not a tool
    stream = await litellm.acompletion(
        model=MODEL, messages=weather, stream=True, tools=[WEATHER_TOOL], stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    built = litellm.stream_chunk_builder(chunks, messages=weather)
    assert built.choices[0].message.tool_calls[0].function.name == "get_weather"
    # the caller's stream_options never reach kluster as sent: the client probes once, then stops asking
    assert ["stream_options" in b for b in chat_bodies(emulator)] == [False, True, False]
    assert built.usage.total_tokens > 0


async def test_async_stream_refusal_is_typed(emulator):
    with pytest.raises(KlusterUnsupportedError):
        stream = await litellm.acompletion(model=MODEL, messages=HELLO, stream=True, n=4)
        [c async for c in stream]
    assert chat_bodies(emulator) == []


def test_http_errors_become_litellm_errors(emulator):
    emulator.controls.fail(503, times=5)
    with pytest.raises(litellm.ServiceUnavailableError):
        litellm.completion(model=MODEL, messages=HELLO, max_retries=0)


def test_call_level_api_key_wins_and_is_never_leaked(emulator):
    with pytest.raises(litellm.AuthenticationError) as caught:
        litellm.completion(model=MODEL, messages=HELLO, api_key="sk-wrong-secret-123", max_retries=0)
    assert "sk-wrong-secret-123" not in str(caught.value)


def test_missing_key_is_a_config_error(monkeypatch):
    monkeypatch.delenv("KLUSTER_API_KEY", raising=False)
    with pytest.raises(LiteLLMKlusterConfigError, match="KLUSTER_API_KEY"):
        litellm.completion(model=MODEL, messages=HELLO)


def test_repr_and_clients_keep_the_key_out():
    handler = KlusterLLM(KlusterSettings(api_key="sk-very-secret-999"))
    assert "sk-very-secret-999" not in repr(handler)
    settings = handler.resolve()
    assert handler.sync_client(settings) is handler.sync_client(settings)  # cached per key/base/retries


async def test_completions_are_read_as_the_json_sent() -> None:
    """LiteLLM reads a completion's body, so our client builds no openai model for it (marked requests)."""
    import httpx
    import respx

    from kluster_agents.integrations._api.kluster_openai import JSON_EXTENSION

    register()
    call = {
        "model": f"kluster/{LLAMA}",
        "messages": [{"role": "user", "content": "hello"}],
        "api_base": "http://kluster.test/v1",
    }
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("http://kluster.test/v1/chat/completions").mock(return_value=httpx.Response(200, json=HI))
        assert litellm.completion(**call, api_key="sk-test").choices[0].message.content == "hi"
        answer = await litellm.acompletion(**call, api_key="sk-test")
        assert answer.choices[0].message.content == "hi"
    assert [c.request.extensions.get(JSON_EXTENSION) for c in route.calls] == [True, True]
