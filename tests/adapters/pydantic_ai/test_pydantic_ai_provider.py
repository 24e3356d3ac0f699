"""KlusterProvider, kluster_model and the catalog-driven profiles — and what reaches the wire."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from pydantic_ai import Agent
from pydantic_ai.exceptions import UserError
from pydantic_ai.models import infer_model
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.profiles import InlineDefsJsonSchemaTransformer

from kluster_agents.adapters.pydantic_ai import (
    KlusterProvider,
    KlusterProviderError,
    kluster_model,
    kluster_model_profile,
)
from kluster_agents.integrations import (
    KlusterConfigError,
    KlusterSettings,
    KlusterUnsupportedError,
    kluster_backend,
    make_async_client,
)
from kluster_agents.integrations._api.catalog import register_model
from kluster_agents.integrations.emulator._model.replies import ToolCall

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
NEMO = "mistralai/Mistral-Nemo-Instruct-2407"  # no tools in the catalog
SECRET = "kl-secret-key-do-not-print-1234"


def chat_bodies(emulator) -> list[dict]:
    return [r.body for r in emulator.controls.requests if r.path == "/v1/chat/completions"]


# -- construction -----------------------------------------------------------------------------------


def test_provider_identity_and_key_never_in_repr() -> None:
    provider = KlusterProvider(api_key=SECRET)
    assert provider.name == "kluster"
    assert provider.base_url == "https://api.kluster.ai/v1"
    assert provider.client.api_key == SECRET
    assert SECRET not in repr(provider) and SECRET not in repr(kluster_model(provider=provider))


def test_provider_reads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLUSTER_API_KEY", SECRET)
    monkeypatch.setenv("KLUSTER_BASE_URL", "http://127.0.0.1:9/v1")
    provider = KlusterProvider()
    assert provider.client.api_key == SECRET and provider.base_url == "http://127.0.0.1:9/v1"


def test_missing_key_is_both_a_kluster_and_a_pydantic_ai_error_at_the_first_run() -> None:
    agent = Agent(kluster_model(LLAMA))  # no key yet: building the model needs none
    with pytest.raises(KlusterProviderError, match="KLUSTER_API_KEY") as info:
        agent.run_sync("hi")
    assert isinstance(info.value, KlusterConfigError) and isinstance(info.value, UserError)


def test_a_module_level_agent_runs_under_kluster_backend() -> None:
    agent = Agent(kluster_model("llama-3.3-70b"))  # as at import time: no key, no base URL
    with kluster_backend(announce=lambda _: None) as backend:
        assert agent.run_sync("Capital of Nepal?").output == "[emulated] reply to: Capital of Nepal?"
    assert backend.emulator is not None and chat_bodies(backend.emulator)[0]["model"] == LLAMA
    with pytest.raises(KlusterProviderError, match="KLUSTER_API_KEY"):  # the key left with the backend
        agent.run_sync("hi")


def test_provider_error_message_is_one_redacted_attribute_for_both_hierarchies() -> None:
    error = KlusterProviderError("bad key Bearer abc.def")
    assert error.message == str(error) == "bad key Bearer ***"
    error.message = "api_key=sk-123456789012"  # UserError declares `message` writable
    assert error.message == str(error) == "api_key=***"


def test_openai_key_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # conftest sets OPENAI_API_KEY; pydantic-ai's OpenAIProvider would pick it up, ours must not.
    provider = KlusterProvider()
    assert provider.client.api_key != "sk-not-for-kluster"
    with pytest.raises(KlusterProviderError):
        Agent(OpenAIChatModel(LLAMA, provider=provider)).run_sync("hi")  # also on pydantic-ai's own model class


def test_foreign_openai_client_is_refused_ours_is_used() -> None:
    with pytest.raises(KlusterProviderError, match="make_async_client"):
        KlusterProvider(openai_client=openai.AsyncOpenAI(api_key="x", base_url="http://x"))
    client = make_async_client(KlusterSettings(api_key=SECRET))
    provider = KlusterProvider(openai_client=client)
    assert provider.client is client and provider.settings.api_key.get_secret_value() == SECRET


async def test_http_client_passthrough_reaches_the_wire() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": LLAMA,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
            },
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    agent = Agent(kluster_model(LLAMA, api_key=SECRET, http_client=http))
    assert (await agent.run("hello")).output == "hi"
    assert seen[0].url == "https://api.kluster.ai/v1/chat/completions"
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"


# -- model names --------------------------------------------------------------------------------------


def test_kluster_model_accepts_prefix_and_alias() -> None:
    model = kluster_model("kluster:llama-3.3-70b", api_key=SECRET)
    assert isinstance(model, OpenAIChatModel)
    assert (model.model_name, model.system) == (LLAMA, "kluster")


def test_infer_model_with_a_provider_factory() -> None:
    model = infer_model("openai-chat:" + LLAMA, provider_factory=lambda _: KlusterProvider(api_key=SECRET))
    assert isinstance(model, OpenAIChatModel) and model.system == "kluster"
    assert model.profile["supports_json_schema_output"] is False


def test_kluster_model_refuses_provider_and_provider_options() -> None:
    with pytest.raises(KlusterProviderError):
        kluster_model(LLAMA, provider=KlusterProvider(api_key=SECRET), api_key=SECRET)


def test_kluster_model_takes_kluster_settings_by_their_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KLUSTER_API_KEY", raising=False)
    settings = KlusterSettings(api_key=SECRET, base_url="http://127.0.0.1:9/v1")
    model = kluster_model(LLAMA, kluster_settings=settings, settings={"temperature": 0.25})
    assert isinstance(model.client, openai.AsyncOpenAI)
    assert model.client.api_key == SECRET and str(model.client.base_url).startswith("http://127.0.0.1:9/v1")
    assert model.settings == {"temperature": 0.25}  # `settings=` keeps PydanticAI's meaning


def test_kluster_settings_passed_as_model_settings_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KLUSTER_API_KEY", raising=False)
    with pytest.raises(KlusterProviderError, match="kluster_settings=") as info:
        kluster_model(LLAMA, settings=KlusterSettings(api_key=SECRET))  # type: ignore[arg-type]
    assert isinstance(info.value, KlusterConfigError) and "Set the KLUSTER_API_KEY" not in str(info.value)
    assert SECRET not in str(info.value)


def test_kluster_model_refuses_provider_and_kluster_settings() -> None:
    with pytest.raises(KlusterProviderError, match="kluster_settings"):
        kluster_model(LLAMA, provider=KlusterProvider(api_key=SECRET), kluster_settings=KlusterSettings(api_key=SECRET))


# -- profiles per model kind --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "tools", "mode"),
    [
        (LLAMA, True, "tool"),
        ("deepseek-ai/DeepSeek-V3-0324", True, "tool"),
        ("Qwen/Qwen3-235B-A22B-FP8", True, "tool"),
        (NEMO, False, "prompted"),
        ("deepseek-ai/DeepSeek-R1-0528", False, "prompted"),
        ("google/gemma-3-27b-it", False, "prompted"),
    ],
)
def test_profile_follows_the_catalog(name: str, tools: bool, mode: str) -> None:
    profile = kluster_model_profile(name)
    assert profile["supports_tools"] is tools
    assert profile["default_structured_output_mode"] == mode
    assert profile["supports_json_schema_output"] is False  # compat refuses json_schema
    assert profile["supports_json_object_output"] is True  # JSON mode is accepted
    assert profile["openai_supports_strict_tool_definition"] is tools  # compat decides tool options
    assert profile["openai_supports_tool_choice_required"] is tools
    assert profile["openai_chat_supports_max_completion_tokens"] is True


def test_family_profiles_are_layered() -> None:
    assert kluster_model_profile(LLAMA)["json_schema_transformer"] is InlineDefsJsonSchemaTransformer
    r1 = kluster_model_profile("deepseek-r1")
    assert r1["thinking_always_enabled"] is True and r1["ignore_streamed_leading_whitespace"] is True
    assert kluster_model_profile("magistral")["supports_thinking"] is True


def test_profile_uses_provider_settings_and_base_models() -> None:
    strict_docs = KlusterProvider(settings=KlusterSettings(api_key=SECRET, tool_support="llama-only"))
    assert strict_docs.model_profile("deepseek-ai/DeepSeek-V3-0324")["supports_tools"] is False
    assert strict_docs.model_profile(LLAMA)["supports_tools"] is True
    register_model("my-endpoint-nemo-1", base=NEMO)
    assert kluster_model_profile("my-endpoint-nemo-1")["default_structured_output_mode"] == "prompted"


# -- on the wire (emulator, strict mode: unsupported parameters would be a 400) ------------------------


def test_plain_run_sync(kluster_emulator) -> None:
    agent = Agent(kluster_model(LLAMA, settings=None, provider=KlusterProvider(settings=kluster_emulator.settings)))
    assert agent.run_sync("Hello").output.startswith("[emulated]")
    (body,) = chat_bodies(kluster_emulator)
    assert body["model"] == LLAMA and "tools" not in body


async def test_streaming_probes_stream_options_once(kluster_emulator) -> None:
    agent = Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings)))
    async with agent.run_stream("stream this") as result:
        chunks = [c async for c in result.stream_text(delta=True)]
    assert "".join(chunks).startswith("[emulated]")
    probe, body = chat_bodies(kluster_emulator)  # the docs refuse stream_options: asked once, then not
    assert probe["stream_options"] == {"include_usage": True}
    assert body["stream"] is True and "stream_options" not in body


def test_multi_turn_tool_use_native(kluster_emulator) -> None:
    agent = Agent(
        kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings)),
        model_settings={"max_tokens": 256},
    )

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Weather in a city."""
        return f"sunny in {city}"

    kluster_emulator.controls.script(ToolCall("get_weather", {"city": "Paris"}))
    result = agent.run_sync("Weather in Paris?")
    assert "sunny in Paris" in result.output
    first, second = chat_bodies(kluster_emulator)
    assert first["tool_choice"] == "auto"  # a text answer is allowed
    assert first["max_completion_tokens"] == 256 and "max_tokens" not in first
    assert [m["role"] for m in second["messages"]][-2:] == ["assistant", "tool"]


def test_strict_tools_and_required_tool_choice_reach_the_wire(kluster_emulator) -> None:
    agent = Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings)), output_type=int)

    def get_weather(city: str) -> str:
        """Weather in a city."""
        return f"sunny in {city}"

    agent.tool_plain(strict=True)(get_weather)
    kluster_emulator.controls.script(ToolCall("final_result", {"response": 21}))
    assert agent.run_sync("How hot in Paris?").output == 21
    (body,) = chat_bodies(kluster_emulator)
    assert body["tool_choice"] == "required"  # no text answer allowed: not downgraded to "auto"
    (weather,) = [t["function"] for t in body["tools"] if t["function"]["name"] == "get_weather"]
    assert weather["strict"] is True  # sent as given, not stripped


@pytest.mark.kluster_emulator(mode="docs-strict")
def test_multi_turn_tool_use_rewritten_for_docs_strict_endpoint(kluster_emulator) -> None:
    settings = kluster_emulator.settings.model_copy(update={"tool_messages": "rewrite"})
    agent = Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=settings)))

    @agent.tool_plain
    def lookup(term: str) -> str:
        return f"definition of {term}"

    # Rewritten history no longer ends with a tool message, so script the final answer too.
    kluster_emulator.controls.script(ToolCall("lookup", {"term": "kluster"}), "kluster is an AI platform.")
    assert agent.run_sync("Define kluster").output == "kluster is an AI platform."
    second = chat_bodies(kluster_emulator)[1]
    assert all(m["role"] != "tool" and not m.get("tool_calls") for m in second["messages"])
    assert "definition of kluster" in json.dumps(second["messages"])


def test_tools_on_a_model_without_tools_fail_before_the_network(kluster_emulator) -> None:
    agent = Agent(kluster_model(NEMO, provider=KlusterProvider(settings=kluster_emulator.settings)))

    @agent.tool_plain
    def noop() -> str:
        return "x"

    with pytest.raises(KlusterUnsupportedError, match="tools"):
        agent.run_sync("hi")
    assert chat_bodies(kluster_emulator) == []


def test_output_limit_refused_before_the_network(kluster_emulator) -> None:
    agent = Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings)))
    with pytest.raises(KlusterUnsupportedError, match="max_completion_tokens"):
        agent.run_sync("hi", model_settings={"max_tokens": 10**9})
    assert chat_bodies(kluster_emulator) == []


def test_one_provider_serves_several_event_loops(kluster_emulator) -> None:
    agent = Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings)))
    outputs = [asyncio.run(agent.run(f"turn {i}")).output for i in range(3)]
    assert outputs == [f"[emulated] reply to: turn {i}" for i in range(3)]
