"""ChatKluster beyond the standard suites: what reaches the wire, configuration, capabilities
from the catalog, kluster response extras, secrets, serialisation."""

from __future__ import annotations

import json
import warnings
from typing import Any

import httpx
import pytest
from langchain_core.load import dumpd, dumps, load
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations._api.compat import KlusterCompatWarning
from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterUnsupportedError
from kluster_agents.integrations._api.kluster_openai import KlusterJSONCompletions
from kluster_agents.integrations._api.settings import KlusterSettings, Tier

TOOL_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
TEXT_MODEL = "mistralai/Mistral-Nemo-Instruct-2407"  # no tools, no vision (catalog)
VISION_MODEL = "google/gemma-3-27b-it"
SECRET = "kl-secret-key-0123456789"


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"Sunny in {city}"


def chat(emulator: Any, **kwargs: Any) -> ChatKluster:
    return ChatKluster(api_key=emulator.api_key, base_url=emulator.base_url, **kwargs)


def chat_bodies(emulator: Any) -> list[dict[str, Any]]:
    return [r.body for r in emulator.controls.requests if r.path.endswith("/chat/completions")]


def test_invoke_sends_a_request_kluster_accepts(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator, max_tokens=64, temperature=0)
    with pytest.warns(KlusterCompatWarning, match="dropped unsupported message field `name`"):
        reply = llm.invoke([SystemMessage("Be brief."), HumanMessage("Hello", name="ada")])
    [body] = chat_bodies(kluster_emulator)
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body
    assert all("name" not in m for m in body["messages"])
    assert not {"stream_options", "n", "response_format", "store", "service_tier"} & body.keys()
    assert reply.text.startswith("[emulated]")
    assert reply.usage_metadata and reply.usage_metadata["total_tokens"] > 0
    meta = reply.response_metadata
    assert meta["model_provider"] == "kluster" and "stop_reason" in meta and meta["prompt_logprobs"] is None
    assert meta["finish_reason"] == "stop" and meta["model_name"] == TOOL_MODEL


def test_a_plain_invoke_leaves_compat_nothing_to_change(kluster_emulator: Any) -> None:
    """The payload names `max_completion_tokens` (as ChatOpenAI's does): no rename, no compat header."""
    chat(kluster_emulator, max_tokens=64, temperature=0).invoke([HumanMessage("Hello")])
    [record] = [r for r in kluster_emulator.controls.requests if r.path.endswith("/chat/completions")]
    assert record.body["max_completion_tokens"] == 64 and "max_tokens" not in record.body
    assert record.extra["compat"] is None


def test_stream_has_text_and_stop_reason_but_no_usage(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator)
    chunks = list(llm.stream("Tell me a story"))
    full = chunks[0]
    for chunk in chunks[1:]:
        full += chunk
    assert len(chunks) > 2 and full.text.startswith("[emulated] reply to: Tell me a story")
    # the emulator refuses stream_options as the docs say: one probe, then usage counted client-side
    assert full.usage_metadata is not None and full.usage_metadata["output_tokens"] > 0
    assert full.response_metadata["usage_estimated"] is True
    assert "stop_reason" in full.response_metadata and full.response_metadata["model_provider"] == "kluster"
    probe, body = chat_bodies(kluster_emulator)
    assert probe["stream_options"] == {"include_usage": True}
    assert body["stream"] is True and "stream_options" not in body


def test_stream_usage_requested_is_asked_once_per_base_url(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator, stream_usage=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        "".join(c.text for c in llm.stream("hi"))
        "".join(c.text for c in llm.stream("hi again"))
    assert ["stream_options" in b for b in chat_bodies(kluster_emulator)] == [True, False, False]


async def test_async_invoke_and_stream(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator)
    reply = await llm.ainvoke("async hello")
    streamed = "".join([c.text async for c in llm.astream("async stream")])
    assert reply.text == "[emulated] reply to: async hello"
    assert streamed == "[emulated] reply to: async stream"


def test_tool_loop_round_trip(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator).bind_tools([get_weather])
    first = llm.invoke("Weather in Paris?")
    [call] = first.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"]["city"], str)
    result = get_weather.invoke(call)
    final = llm.invoke([HumanMessage("Weather in Paris?"), first, result])
    assert "get_weather" in final.text and not final.tool_calls
    second_body = chat_bodies(kluster_emulator)[1]
    assert [m["role"] for m in second_body["messages"]] == ["user", "assistant", "tool"]
    assert second_body["messages"][1]["tool_calls"][0]["id"] == call["id"]


def test_bind_tools_refused_on_model_without_tools(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator, model=TEXT_MODEL)
    with pytest.raises(KlusterUnsupportedError, match="no tool calling") as err:
        llm.bind_tools([get_weather])
    assert err.value.parameter == "tools" and err.value.model == TEXT_MODEL
    assert kluster_emulator.controls.count() == 0


def test_response_format_is_refused_before_the_network(kluster_emulator: Any) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    llm = chat(kluster_emulator).bind(response_format=schema)
    with pytest.raises(KlusterUnsupportedError, match="response_format"):
        llm.invoke("json please")
    assert kluster_emulator.controls.count() == 0


def test_image_input_refused_on_text_model(kluster_emulator: Any) -> None:
    image = HumanMessage(
        content=[
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ]
    )
    with pytest.raises(KlusterUnsupportedError, match="image"):
        chat(kluster_emulator, model=TEXT_MODEL).invoke([image])
    assert kluster_emulator.controls.count() == 0


def test_n_above_one_is_refused() -> None:
    with pytest.raises(ValueError, match="one choice per request"):
        ChatKluster(api_key=SECRET, n=2)


def test_no_key_raises_config_error_on_first_call_not_openai_key(kluster_emulator: Any) -> None:
    llm = ChatKluster(base_url=kluster_emulator.base_url)  # OPENAI_API_KEY is set by conftest: never used
    assert llm.client is None and llm.openai_api_key is None
    with pytest.raises(KlusterConfigError, match="KLUSTER_API_KEY"):
        llm.invoke("hi")
    assert kluster_emulator.controls.count() == 0


async def test_no_key_async_raises_config_error() -> None:
    with pytest.raises(KlusterConfigError):
        await ChatKluster().ainvoke("hi")


def test_environment_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLUSTER_API_KEY", SECRET)
    monkeypatch.setenv("KLUSTER_BASE_URL", "https://kluster.example/v1")
    monkeypatch.setenv("KLUSTER_TIER", "trial")
    llm = ChatKluster()
    assert llm.model_name == TOOL_MODEL
    assert llm.openai_api_key.get_secret_value() == SECRET
    assert str(llm.root_client.base_url).rstrip("/") == "https://kluster.example/v1"
    assert llm.tier is Tier.trial and llm.profile["max_output_tokens"] == 4000  # trial: 4k output
    assert isinstance(llm.client, KlusterJSONCompletions)  # dicts for LangChain
    assert llm.client is llm.root_client.chat.json_completions and llm.client._client is llm.root_client
    assert llm.root_client.default_headers["User-Agent"].startswith("kluster-agents/")


def test_explicit_arguments_override_settings_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLUSTER_API_KEY", "from-env-key")
    settings = KlusterSettings(api_key="from-settings-key", base_url="https://settings.example/v1", tier="scale")
    llm = ChatKluster(settings=settings, api_key=SECRET, timeout=5, max_retries=7)
    assert llm.settings.api_key.get_secret_value() == SECRET
    assert llm.settings.base_url == "https://settings.example/v1" and llm.tier is Tier.scale
    assert llm.root_client.max_retries == 7 and llm.root_client.timeout.read == 5


def test_requests_carry_the_kluster_key_only() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "id": "chat-1",
                "object": "chat.completion",
                "created": 1,
                "model": TOOL_MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok", "tool_calls": []},
                        "logprobs": None,
                        "finish_reason": "stop",
                        "stop_reason": 128009,
                    }
                ],
                "usage": {"prompt_tokens": 3, "total_tokens": 4, "completion_tokens": 1},
                "prompt_logprobs": None,
            },
        )

    llm = ChatKluster(
        api_key=SECRET,
        base_url="https://kluster.example/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    reply = llm.invoke("hi")
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert str(seen[0].url) == "https://kluster.example/v1/chat/completions"
    assert reply.response_metadata["stop_reason"] == 128009


def test_model_profile_comes_from_the_catalog() -> None:
    tools = ChatKluster(api_key=SECRET, model=TOOL_MODEL).profile
    text = ChatKluster(api_key=SECRET, model=TEXT_MODEL).profile
    vision = ChatKluster(api_key=SECRET, model=VISION_MODEL).profile
    reasoning = ChatKluster(api_key=SECRET, model="deepseek-r1").profile
    assert tools["tool_calling"] and not text["tool_calling"] and not vision["tool_calling"]
    assert vision["image_inputs"] and not tools["image_inputs"]
    assert reasoning["reasoning_output"] and not tools["reasoning_output"]
    assert not tools["structured_output"]  # agents: a tool call (ToolStrategy)
    assert text["structured_output"] and vision["structured_output"]  # agents: prompted JSON in the message
    assert tools["max_input_tokens"] == 131000


def test_tool_support_setting_is_honoured() -> None:
    qwen = ChatKluster(api_key=SECRET, model="qwen3", settings=KlusterSettings(tool_support="llama-only"))
    assert not qwen.supports_tools and not qwen.profile["tool_calling"]
    assert ChatKluster(api_key=SECRET, model="qwen3").supports_tools


def test_secret_never_in_repr_or_serialised_form() -> None:
    llm = ChatKluster(api_key=SECRET)
    assert SECRET not in repr(llm) and SECRET not in str(llm)
    serialised = dumps(llm)
    assert SECRET not in serialised
    assert json.loads(serialised)["kwargs"]["openai_api_key"] == {"lc": 1, "type": "secret", "id": ["KLUSTER_API_KEY"]}


def test_secret_not_in_auth_error(kluster_emulator: Any) -> None:
    llm = ChatKluster(api_key=SECRET, base_url=kluster_emulator.base_url, max_retries=0)
    with pytest.raises(Exception) as err:
        llm.invoke("hi")
    chain = [err.value, err.value.__cause__, err.value.__context__]
    assert all(SECRET not in str(e) for e in chain if e is not None)
    assert "401" in str(err.value)


@pytest.mark.filterwarnings("ignore:The function `load` is in beta")  # langchain-core's own label
def test_serialisation_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLUSTER_API_KEY", SECRET)
    llm = ChatKluster(model=TEXT_MODEL, temperature=0.2, batch=True, batch_completion_window="1h")
    loaded = load(dumpd(llm), allowed_objects=[ChatKluster], valid_namespaces=["kluster_agents"], secrets_from_env=True)
    assert isinstance(loaded, ChatKluster) and loaded._identifying_params == llm._identifying_params
    assert loaded.openai_api_key.get_secret_value() == SECRET and loaded.use_batch_api


def test_tracing_params() -> None:
    llm = ChatKluster(api_key=SECRET, max_tokens=10, stop=["x"])
    params = llm._get_ls_params()
    assert params["ls_provider"] == "kluster" and params["ls_model_name"] == TOOL_MODEL
    assert params["ls_max_tokens"] == 10 and params["ls_stop"] == ["x"]
    assert llm._get_ls_params(model="other")["ls_model_name"] == "other"
    assert llm._llm_type == "chat-kluster"


def test_tool_message_history_with_list_content(kluster_emulator: Any) -> None:
    history = [
        HumanMessage("Weather?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "id": "c1"}]),
        ToolMessage([{"type": "text", "text": "Rainy"}], tool_call_id="c1"),
    ]
    reply = chat(kluster_emulator).bind_tools([get_weather]).invoke(history)
    assert "Rainy" in reply.text
