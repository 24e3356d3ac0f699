"""Bad inputs fail before the network with a `KlusterError` that names the fix.

Each case asserts the error type and that nothing reached the server (the emulator's request log
shows zero calls to the endpoint the call would have used).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.errors import (
    KlusterConfigError,
    KlusterError,
    KlusterInvalidRequestError,
    KlusterUnsupportedError,
)
from kluster_agents.integrations._api.settings import KlusterBaseURLWarning, KlusterSettings
from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import MODEL, user

pytestmark = pytest.mark.timeout(60)

CHAT_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "user content=None": ({"messages": [{"role": "user", "content": None}]}, "content"),
    "system content=None": ({"messages": [{"role": "system", "content": None}, *user("x")]}, "content"),
    "role=bot": ({"messages": [{"role": "bot", "content": "hi"}]}, "role"),
    "temperature=5": ({"messages": user("hi"), "temperature": 5}, "temperature"),
    "temperature=-0.1": ({"messages": user("hi"), "temperature": -0.1}, "temperature"),
    "temperature='hot'": ({"messages": user("hi"), "temperature": "hot"}, "temperature"),
    "top_p=-1": ({"messages": user("hi"), "top_p": -1}, "top_p"),
    "top_p=1.5": ({"messages": user("hi"), "top_p": 1.5}, "top_p"),
    "presence_penalty=3": ({"messages": user("hi"), "presence_penalty": 3}, "presence_penalty"),
    "lone surrogate": ({"messages": user("caf\udce9")}, "surrogate"),
    "lone surrogate in a part": (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "x\ud800y"}]}]},
        "surrogate",
    ),
    "empty messages": ({"messages": []}, "messages"),
}


@pytest.mark.parametrize("case", list(CHAT_CASES))
def test_core_sync_bad_chat_input_never_sent(kluster_emulator: Emulator, case: str) -> None:
    body, needle = CHAT_CASES[case]
    client = make_client(kluster_emulator.settings, max_retries=0)
    with pytest.raises(KlusterInvalidRequestError, match=needle):
        client.chat.completions.create(model=MODEL, **body)
    assert kluster_emulator.controls.count("/chat/completions") == 0


@pytest.mark.parametrize("case", list(CHAT_CASES))
async def test_core_async_bad_chat_input_never_sent(kluster_emulator: Emulator, case: str) -> None:
    body, needle = CHAT_CASES[case]
    client = make_async_client(kluster_emulator.settings, max_retries=0)
    with pytest.raises(KlusterInvalidRequestError, match=needle):
        await client.chat.completions.create(model=MODEL, **body)
    assert kluster_emulator.controls.count("/chat/completions") == 0


def test_valid_edge_values_still_go_through(kluster_emulator: Emulator) -> None:
    client = make_client(kluster_emulator.settings, max_retries=0)
    for params in ({"temperature": 0}, {"temperature": 2}, {"top_p": 1}, {"top_p": 0.0}):
        assert client.chat.completions.create(model=MODEL, messages=user("hi"), **params).choices
    assistant_with_tool_call = [
        *user("weather?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    assert client.chat.completions.create(model=MODEL, messages=assistant_with_tool_call).choices


# -- keys and base URLs ------------------------------------------------------------------------
def test_key_with_surrounding_whitespace_is_stripped_and_works(kluster_emulator: Emulator) -> None:
    settings = KlusterSettings.load(api_key=f"  {kluster_emulator.api_key}\n", base_url=kluster_emulator.base_url)
    assert settings.require_api_key() == kluster_emulator.api_key
    client = make_client(settings, max_retries=0)
    assert client.chat.completions.create(model=MODEL, messages=user("hi")).choices


def test_key_from_env_with_trailing_newline_is_stripped(
    kluster_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLUSTER_API_KEY", kluster_emulator.api_key + "\n")
    monkeypatch.setenv("KLUSTER_BASE_URL", kluster_emulator.base_url)
    assert make_client(max_retries=0).chat.completions.create(model=MODEL, messages=user("hi")).choices


@pytest.mark.parametrize("key", ["clé-secrète-0123456789", "sk-abc\u201d", "sk-abc\x00def"])
def test_non_ascii_key_is_refused_before_the_network(kluster_emulator: Emulator, key: str) -> None:
    with pytest.raises(KlusterConfigError, match="non-ASCII") as info:
        make_client(kluster_emulator.settings, api_key=key)
    assert key not in str(info.value) and key not in repr(info.value)
    assert kluster_emulator.controls.requests == []


def test_non_ascii_key_as_direct_settings_hides_the_input() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        KlusterSettings(api_key="clé-secrète-0123456789")
    assert "secrète" not in str(info.value)


def test_base_url_without_v1_warns_naming_the_fix() -> None:
    with pytest.warns(KlusterBaseURLWarning, match="/v1"):
        KlusterSettings.load(base_url="https://api.kluster.ai")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KlusterSettings.load(base_url="https://api.kluster.ai/v1/")


# -- batch, journal, verify --------------------------------------------------------------------
@pytest.mark.parametrize("metadata", [{"attempt": 3}, {"ok": True}, {"nested": {"a": "b"}}, {1: "x"}])
def test_non_string_batch_metadata_refused_before_upload(kluster_emulator: Emulator, metadata: Any) -> None:
    from kluster_agents.integrations._jobs.batch.submit import submit_batch

    with pytest.raises(KlusterInvalidRequestError, match="metadata"):
        submit_batch([{"model": MODEL, "messages": user("hi")}], settings=kluster_emulator.settings, metadata=metadata)
    assert kluster_emulator.controls.count("/files") == 0 and kluster_emulator.controls.count("/batches") == 0


def test_journal_path_that_is_a_directory(kluster_emulator: Emulator, tmp_path: Path) -> None:
    from kluster_agents.integrations._jobs.batch.submit import submit_batch

    with pytest.raises(KlusterConfigError, match="is a directory"):
        submit_batch([{"model": MODEL, "messages": user("hi")}], settings=kluster_emulator.settings, journal=tmp_path)
    assert kluster_emulator.controls.count("/files") == 0 and kluster_emulator.controls.count("/batches") == 0


@pytest.mark.parametrize("context", ["", "   ", "\n\t"])
def test_verify_with_empty_context_is_refused(kluster_emulator: Emulator, context: str) -> None:
    from kluster_agents.integrations._verify.client import VerifyClient

    with pytest.raises(KlusterInvalidRequestError, match="context"):
        VerifyClient(kluster_emulator.settings).verify("Who?", "Ada.", context=context)
    assert not [r for r in kluster_emulator.controls.requests if "verify" in r.path]


# -- LangChain constructor arguments -----------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"n": 3}, KlusterUnsupportedError),
        ({"timeout": -1}, KlusterConfigError),
        ({"timeout": 0}, KlusterConfigError),
        ({"tier": "gold"}, KlusterConfigError),
    ],
)
def test_langchain_bad_arguments_raise_kluster_errors(
    kluster_emulator_env: Emulator, kwargs: dict[str, Any], error: type[KlusterError]
) -> None:
    pytest.importorskip("langchain_openai")
    from kluster_agents.adapters.langchain import ChatKluster

    with pytest.raises(error):
        ChatKluster(model=MODEL, **kwargs)
    assert kluster_emulator_env.controls.requests == []


@pytest.mark.parametrize("case", ["temperature=5", "top_p=-1", "lone surrogate"])
def test_langchain_bad_request_never_sent(kluster_emulator_env: Emulator, case: str) -> None:
    pytest.importorskip("langchain_openai")
    from kluster_agents.adapters.langchain import ChatKluster

    body, _ = CHAT_CASES[case]
    llm = ChatKluster(model=MODEL, max_retries=0, **{k: v for k, v in body.items() if k != "messages"})
    with pytest.raises(KlusterInvalidRequestError):
        llm.invoke(body["messages"][0]["content"])
    assert kluster_emulator_env.controls.count("/chat/completions") == 0


def test_langchain_role_bot_never_sent(kluster_emulator_env: Emulator) -> None:
    pytest.importorskip("langchain_openai")
    from kluster_agents.adapters.langchain import ChatKluster

    with pytest.raises(ValueError):  # LangChain's own message coercion refuses it (KlusterErrors are ValueErrors too)
        ChatKluster(model=MODEL, max_retries=0).invoke([{"role": "bot", "content": "hi"}])
    assert kluster_emulator_env.controls.count("/chat/completions") == 0


# -- CLI: one line on stderr naming the fix, never a traceback -------------------------------------
def _cli(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from kluster_agents.integrations._cli.app import app

    return CliRunner().invoke(app, args)


def _assert_one_line_error(result: Any, needle: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and needle in result.output


def test_cli_batch_prompts_not_utf8(kluster_emulator_env: Emulator, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    result = _cli(["batch", "submit", "--prompts", str(prompts), "--model", MODEL])
    _assert_one_line_error(result, "not UTF-8")
    assert kluster_emulator_env.controls.count("/files", "POST") == 0


@pytest.mark.parametrize(
    "content,needle", [("caf\xe9".encode("latin-1"), "not UTF-8"), (b"", "empty"), (b"  \n", "empty")]
)
def test_cli_verify_bad_context_file(
    kluster_emulator_env: Emulator, tmp_path: Path, content: bytes, needle: str
) -> None:
    context = tmp_path / "context.txt"
    context.write_bytes(content)
    result = _cli(["verify", "-p", "Who wrote it?", "-o", "Ada.", "--context-file", str(context)])
    assert result.exit_code == 2 and needle in result.output and "RELIABLE" not in result.output
    assert not [r for r in kluster_emulator_env.controls.requests if "verify" in r.path]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["emulate", "--port", "99999"], "not a TCP port"),
        (["emulate", "--mode", "bogus"], "unknown emulator mode"),
        (["emulate", "--tier", "gold"], "unknown"),
    ],
)
def test_cli_emulate_bad_options(args: list[str], needle: str) -> None:
    _assert_one_line_error(_cli(args), needle)


def test_cli_emulate_on_a_busy_port() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = _cli(["emulate", "--port", str(busy.getsockname()[1])])
    _assert_one_line_error(result, "busy")


def test_cli_litellm_config_bad_tier() -> None:
    pytest.importorskip("litellm")
    _assert_one_line_error(_cli(["litellm-config", "--tier", "gold"]), "tier")


# -- wrong types and values that used to crash untyped or pass silently ----------------------------
def test_cli_batch_submit_of_a_directory(
    kluster_emulator_env: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("inputs").mkdir()
    _assert_one_line_error(_cli(["batch", "submit", "inputs"]), "is a directory")
    _assert_one_line_error(_cli(["batch", "submit", "--prompts", "inputs", "-m", MODEL]), "is a directory")
    assert kluster_emulator_env.controls.count("/files", "POST") == 0


@pytest.mark.parametrize("model", [123, "", ["llama"]])
def test_langchain_model_that_is_not_a_name(kluster_emulator_env: Emulator, model: Any) -> None:
    pytest.importorskip("langchain_openai")
    from kluster_agents.adapters.langchain import ChatKluster

    with pytest.raises(KlusterConfigError, match="model"):
        ChatKluster(model=model)


@pytest.mark.parametrize("messages", [["hi", 42], "hi", [{"role": "user", "content": "x"}, None]])
def test_verify_conversation_of_non_messages(kluster_emulator: Emulator, messages: Any) -> None:
    from kluster_agents.integrations._verify.client import VerifyClient

    with pytest.raises(KlusterInvalidRequestError, match="message dicts"):
        VerifyClient(kluster_emulator.settings).verify_conversation(messages)
    assert kluster_emulator.controls.requests == []


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_max_requests_per_job_must_be_positive(kluster_emulator: Emulator, limit: Any) -> None:
    from kluster_agents.integrations._jobs.batch.submit import submit_batch

    with pytest.raises(KlusterInvalidRequestError, match="max_requests_per_job"):
        submit_batch(
            [{"model": MODEL, "messages": user("hi")}],
            settings=kluster_emulator.settings,
            journal=False,
            max_requests_per_job=limit,
        )
    assert kluster_emulator.controls.count("/files") == 0


@pytest.mark.parametrize("method", ["GET", "DELETE", None])
def test_batch_line_with_a_method_other_than_post(kluster_emulator: Emulator, method: Any) -> None:
    from kluster_agents.integrations._jobs.batch.submit import submit_batch

    line = {
        "custom_id": "a",
        "method": method,
        "url": "/v1/chat/completions",
        "body": {"model": MODEL, "messages": user("hi")},
    }
    with pytest.raises(KlusterInvalidRequestError, match="method"):
        submit_batch([line], settings=kluster_emulator.settings, journal=False)
    assert kluster_emulator.controls.count("/files") == 0


def test_register_model_with_an_unknown_base() -> None:
    from kluster_agents.integrations._api.catalog import get_model, register_model

    with pytest.raises(KlusterConfigError, match="nope/nope"):
        register_model("my-endpoint-typo", base="nope/nope")
    assert get_model("my-endpoint-typo").kind == "unknown"  # nothing registered
    with pytest.raises(KlusterConfigError, match="name"):
        register_model("", base=MODEL)


@pytest.mark.parametrize("model", ["", "  "])
def test_crewai_llm_with_an_empty_model(kluster_emulator_env: Emulator, model: str) -> None:
    pytest.importorskip("crewai")
    from kluster_agents.adapters.crewai import kluster_llm

    with pytest.raises(KlusterConfigError, match="non-empty"):
        kluster_llm(model)


@pytest.mark.parametrize("variable,value", [("KLUSTER_TIMEOUT", "-5"), ("KLUSTER_CONNECT_TIMEOUT", "0")])
def test_doctor_reports_invalid_settings(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.delenv("KLUSTER_API_KEY", raising=False)
    monkeypatch.setenv(variable, value)
    result = _cli(["doctor", "--no-check"])
    assert (
        result.exit_code == 2
        and "invalid" in result.output
        and variable.removeprefix("KLUSTER_").lower() in result.output
    )


NOT_MESSAGE_LISTS = ["hi", {"role": "user", "content": "hi"}, 42, None, ["hi"], [{"role": "user", "content": "x"}, 7]]


def _litellm() -> Any:
    litellm = pytest.importorskip("litellm")
    from kluster_agents.adapters.litellm import register

    register()
    litellm.suppress_debug_info = True
    return litellm


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("messages", NOT_MESSAGE_LISTS)
def test_litellm_completion_of_non_messages(kluster_emulator_env: Emulator, messages: Any, stream: bool) -> None:
    litellm = _litellm()
    from kluster_agents.adapters.litellm import LiteLLMKlusterInvalidRequestError

    with pytest.raises(LiteLLMKlusterInvalidRequestError, match="messages") as info:
        litellm.completion(model=f"kluster/{MODEL}", messages=messages, stream=stream, num_retries=0)
    assert isinstance(info.value, litellm.BadRequestError)  # a Router neither retries nor falls back
    assert kluster_emulator_env.controls.requests == []


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("messages", NOT_MESSAGE_LISTS)
async def test_litellm_acompletion_of_non_messages(kluster_emulator_env: Emulator, messages: Any, stream: bool) -> None:
    litellm = _litellm()

    with pytest.raises(KlusterInvalidRequestError, match="messages"):
        await litellm.acompletion(model=f"kluster/{MODEL}", messages=messages, stream=stream, num_retries=0)
    assert kluster_emulator_env.controls.requests == []


def test_litellm_other_providers_keep_litellm_message_handling() -> None:
    litellm = _litellm()

    with pytest.raises(Exception) as info:  # LiteLLM's own behaviour for its providers, untouched
        litellm.completion(model="openai/gpt-4o-mini", messages="hi", api_key="sk-none", num_retries=0)
    assert not isinstance(info.value, KlusterError)


@pytest.mark.parametrize("messages", NOT_MESSAGE_LISTS)
def test_litellm_batch_completion_of_non_messages(kluster_emulator: Emulator, messages: Any) -> None:
    _litellm()
    from kluster_agents.adapters.litellm import batch_completion_via_api

    with pytest.raises(KlusterInvalidRequestError, match="messages"):
        batch_completion_via_api(
            [{"model": f"kluster/{MODEL}", "messages": messages}], settings=kluster_emulator.settings, journal=False
        )
    assert kluster_emulator.controls.requests == []
