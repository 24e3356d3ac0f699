"""Every compat rule: drop (warned once), translate, refuse, message clean-up and rewrite."""

from __future__ import annotations

import warnings

import pytest

from kluster_agents.integrations import (
    KlusterSettings,
    KlusterUnsupportedError,
    prepare_chat_request,
)
from kluster_agents.integrations._api import compat as compat
from kluster_agents.integrations._api.compat import KlusterCompatWarning
from kluster_agents.integrations._api.errors import KlusterError, KlusterInvalidRequestError

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "_warned", set())


def prep(**params):
    params.setdefault("model", LLAMA)
    params.setdefault("messages", USER)
    settings = params.pop("settings", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KlusterCompatWarning)
        return prepare_chat_request(params, settings=settings)


def test_alias_resolves_to_api_name_and_input_is_not_mutated() -> None:
    original = {"model": "llama-3.3-70b", "messages": [{"role": "user", "content": "x", "name": "bob"}]}
    out = prepare_chat_request(dict(original), settings=KlusterSettings(warn_on_drop=False))
    assert out["model"] == LLAMA
    assert original["messages"][0]["name"] == "bob"
    assert out["messages"] == [{"role": "user", "content": "x"}]


@pytest.mark.parametrize("param", ["store", "service_tier", "stream_options"])
def test_unsupported_params_are_dropped(param: str) -> None:
    value = {"include_usage": True} if param == "stream_options" else ("auto" if param == "service_tier" else True)
    assert param not in prep(**{param: value})


def test_drops_warn_once_per_parameter() -> None:
    with pytest.warns(KlusterCompatWarning, match="store") as record:
        prepare_chat_request({"model": LLAMA, "messages": USER, "store": True})
        prepare_chat_request({"model": LLAMA, "messages": USER, "store": True})
    assert len([w for w in record if "store" in str(w.message)]) == 1


def test_no_warning_when_disabled() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_chat_request(
            {"model": LLAMA, "messages": USER, "store": True}, settings=KlusterSettings(warn_on_drop=False)
        )


def test_n_equal_one_dropped_n_above_one_refused() -> None:
    assert "n" not in prep(n=1)
    with pytest.raises(KlusterUnsupportedError) as info:
        prep(n=3)
    assert info.value.parameter == "n" and info.value.model == LLAMA
    assert "n=3" in str(info.value) and "separate requests" in str(info.value)


def test_modalities() -> None:
    assert "modalities" not in prep(modalities=["text"])
    with pytest.raises(KlusterUnsupportedError, match="modalities"):
        prep(modalities=["text", "audio"])


def test_response_format_json_mode_kept_json_schema_refused() -> None:
    assert "response_format" not in prep(response_format={"type": "text"})
    # JSON mode was observed accepted by the live service (tests/fidelity); json_schema has no evidence.
    assert prep(response_format={"type": "json_object"})["response_format"] == {"type": "json_object"}
    for fmt in ({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},):
        with pytest.raises(KlusterUnsupportedError, match="structured output"):
            prep(response_format=fmt)


@pytest.mark.parametrize(
    "fmt",
    [{"type": "json_object"}, {"type": "text"}, {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}],
)
def test_check_and_prepare_decide_response_format_alike(fmt) -> None:
    """The early check (CrewAI construction, LangChain batch mode) and the request path never disagree."""
    params = {"model": LLAMA, "messages": USER, "response_format": fmt}

    def outcome(call):
        try:
            call()
        except KlusterUnsupportedError as exc:
            return type(exc)
        return None

    assert outcome(lambda: compat.check_chat_request(params)) == outcome(lambda: prep(**params))
    if fmt["type"] == "json_object":
        compat.check_chat_request(params)  # accepted, as it is sent


def test_tool_strict_and_tool_choice_required_are_sent() -> None:
    """One decision under every adapter: tools go as OpenAI shapes them (the docs list neither as unsupported)."""
    strict_tool = {"type": "function", "function": {**TOOL["function"], "strict": True}}
    out = prep(tools=[strict_tool], tool_choice="required")
    assert out["tools"][0]["function"]["strict"] is True and out["tool_choice"] == "required"


def test_max_tokens_translated() -> None:
    out = prep(max_tokens=50)
    assert out["max_completion_tokens"] == 50 and "max_tokens" not in out
    assert prep(max_tokens=50, max_completion_tokens=20)["max_completion_tokens"] == 20


def test_legacy_functions_translated_to_tools() -> None:
    out = prep(functions=[TOOL["function"]], function_call={"name": "add"})
    assert out["tools"] == [TOOL]
    assert out["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert "functions" not in out and "function_call" not in out


def test_tools_kept_on_tool_models() -> None:
    out = prep(tools=[TOOL], tool_choice="auto", parallel_tool_calls=False)
    assert out["tools"] == [TOOL] and out["tool_choice"] == "auto" and out["parallel_tool_calls"] is False


def test_tools_refused_on_models_without_tools() -> None:
    with pytest.raises(KlusterUnsupportedError) as info:
        prep(model="deepseek-ai/DeepSeek-R1-0528", tools=[TOOL])
    msg = str(info.value)
    assert info.value.parameter == "tools" and "DeepSeek-R1-0528" in msg and "kluster-agents models" in msg


def test_llama_only_tool_source_refuses_qwen_tools() -> None:
    assert prep(model="Qwen/Qwen3-235B-A22B-FP8", tools=[TOOL])["tools"]
    with pytest.raises(KlusterUnsupportedError):
        prep(model="Qwen/Qwen3-235B-A22B-FP8", tools=[TOOL], settings=KlusterSettings(tool_support="llama-only"))


def test_tool_choice_without_tools() -> None:
    out = prep(tools=[], tool_choice="auto", parallel_tool_calls=True)
    assert "tools" not in out and "tool_choice" not in out and "parallel_tool_calls" not in out
    with pytest.raises(KlusterUnsupportedError, match="without any tools"):
        prep(tool_choice={"type": "function", "function": {"name": "add"}})


def test_image_input_on_text_model_refused_and_allowed_on_vision_model() -> None:
    content = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "data:,"}}]
    with pytest.raises(KlusterUnsupportedError, match="image input") as info:
        prep(messages=[{"role": "user", "content": content}])
    assert info.value.parameter == "messages[0].content"
    assert prep(model="google/gemma-3-27b-it", messages=[{"role": "user", "content": content}])["messages"][0][
        "content"
    ]


def test_output_above_tier_max_refused_or_clamped() -> None:
    with pytest.raises(KlusterUnsupportedError, match="trial tier's max output of 4000") as info:
        prep(max_completion_tokens=10_000, settings=KlusterSettings(tier="trial"))
    assert "KLUSTER_OVER_LIMIT=clamp" in str(info.value)
    clamped = prep(max_tokens=10_000, settings=KlusterSettings(tier="trial", over_limit="clamp"))
    assert clamped["max_completion_tokens"] == 4_000
    assert prep(max_completion_tokens=10_000)["max_completion_tokens"] == 10_000  # core allows 131k


def test_unknown_models_are_not_refused() -> None:
    out = prep(model="my-endpoint", tools=[TOOL], max_completion_tokens=10**7)
    assert out["model"] == "my-endpoint" and out["tools"]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"messages": []}, "non-empty list"),
        ({"messages": None}, "non-empty list"),
        ({"messages": [{"content": "no role"}]}, "messages[0]"),
        ({"model": None}, "No model given"),
        ({"max_completion_tokens": 0}, "positive integer"),
    ],
)
def test_malformed_requests(params: dict, needle: str) -> None:
    base = {"model": LLAMA, "messages": USER}
    base.update(params)
    with pytest.raises(KlusterInvalidRequestError) as info:
        prepare_chat_request(base)
    assert needle in str(info.value)
    assert isinstance(info.value, KlusterError) and isinstance(info.value, ValueError)


ASSISTANT_TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "refusal": None,
    "audio": None,
    "function_call": None,
    "annotations": None,
    "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "mul", "arguments": '{"a": 1337, "b": 42}'}}
    ],
}
TOOL_RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "56154"}
LOOP = [{"role": "user", "content": "1337*42?"}, ASSISTANT_TOOL_CALL, TOOL_RESULT]


def test_tool_loop_native_mode_matches_the_observed_live_request() -> None:
    out = prep(model="klusterai/Meta-Llama-3.1-8B-Instruct-Turbo", messages=LOOP, tools=[TOOL])
    assistant = out["messages"][1]
    assert set(assistant) == {"role", "content", "tool_calls"}  # null refusal/audio/annotations removed
    assert assistant["content"] == "" and assistant["tool_calls"] == ASSISTANT_TOOL_CALL["tool_calls"]
    assert out["messages"][2] == TOOL_RESULT


def test_tool_loop_rewrite_mode_uses_plain_text() -> None:
    out = prep(messages=LOOP, tools=[TOOL], settings=KlusterSettings(tool_messages="rewrite"))
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert all("tool_calls" not in m and "tool_call_id" not in m for m in out["messages"])
    assert "called tool `mul`" in out["messages"][1]["content"] and '"a": 1337' in out["messages"][1]["content"]
    assert out["messages"][2]["content"].startswith("[result of tool `mul` (call id call_1)]: 56154")


def test_legacy_assistant_function_call_becomes_tool_call() -> None:
    msg = {"role": "assistant", "content": None, "function_call": {"name": "mul", "arguments": "{}"}}
    out = prep(messages=[USER[0], msg])
    assert out["messages"][1]["tool_calls"][0]["function"]["name"] == "mul"
    assert "function_call" not in out["messages"][1]


def test_pydantic_message_objects_are_accepted() -> None:
    from openai.types.chat import ChatCompletionMessage

    msg = ChatCompletionMessage(role="assistant", content="hello")
    out = prep(messages=[USER[0], msg])
    assert out["messages"][1] == {"role": "assistant", "content": "hello"}
