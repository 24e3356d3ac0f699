from __future__ import annotations

import httpx
import pytest
import respx
from typer.testing import CliRunner

from kluster_agents.integrations import __version__
from kluster_agents.integrations._cli.app import app

runner = CliRunner()
KEY = "kl-cli-key-0123456789"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


def test_models_table_shows_catalog_and_tier_limits() -> None:
    result = runner.invoke(app, ["models", "--tier", "trial"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo" in result.stdout
    assert "Limits: trial tier" in result.stdout and "32k" in result.stdout
    assert "llama-3.3-70b" in result.stdout  # aliases are listed


def test_models_bad_tier_is_an_actionable_error() -> None:
    result = runner.invoke(app, ["models", "--tier", "gold"])
    assert result.exit_code == 2
    assert "use one of: trial, core, scale, enterprise" in result.output


def test_doctor_without_key() -> None:
    result = runner.invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "not set" in result.stdout and "extra [langchain]" in result.stdout


@respx.mock
def test_doctor_with_key_checks_reachability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLUSTER_API_KEY", KEY)
    respx.get("https://api.kluster.ai/v1/models").respond(
        200, json={"object": "list", "data": [{"id": "x", "object": "model", "created": 1, "owned_by": "me"}]}
    )
    result = runner.invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "ok (1 models visible" in result.stdout and KEY not in result.output


@respx.mock
def test_doctor_reports_a_bad_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLUSTER_API_KEY", KEY)
    monkeypatch.setenv("KLUSTER_MAX_RETRIES", "0")
    respx.get("https://api.kluster.ai/v1/models").respond(401, json={"error": {"message": "Invalid API key"}})
    result = runner.invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "failed" in result.stdout and KEY not in result.output


@respx.mock
def test_chat_streams_the_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLUSTER_API_KEY", KEY)
    chunks = [
        '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}',
        '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo!"},"finish_reason":"stop","stop_reason":null}]}',
    ]
    body = "".join(f"data: {c}\n\n" for c in chunks) + "data: [DONE]\n\n"
    route = respx.post("https://api.kluster.ai/v1/chat/completions").mock(
        return_value=httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
    )
    result = runner.invoke(app, ["chat", "Say hello", "--model", "llama-3.1-8b", "--max-tokens", "10"])
    assert result.exit_code == 0, result.output
    assert "Hello!" in result.stdout
    sent = route.calls[0].request.content
    assert b'"max_completion_tokens":10' in sent.replace(b" ", b"") and b"Meta-Llama-3.1-8B" in sent


def test_chat_without_key_says_how_to_get_one() -> None:
    result = runner.invoke(app, ["chat", "hi"])
    assert result.exit_code == 2 and "KLUSTER_API_KEY" in result.output


def test_chat_refused_parameter() -> None:
    result = runner.invoke(
        app, ["chat", "hi", "--max-tokens", "999999"], env={"KLUSTER_API_KEY": KEY, "KLUSTER_TIER": "trial"}
    )
    assert result.exit_code == 2 and "max output" in result.output


ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_recipes_list_covers_every_framework() -> None:
    result = runner.invoke(app, ["recipes", "list", "--dir", str(ROOT / "recipes")], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name in (
        "langchain/chat_streaming",
        "litellm/router_fallbacks",
        "crewai/verified_task",
        "pydantic_ai/batch_run",
    ):
        assert name in result.stdout


def test_recipes_outside_a_checkout_and_unknown_names() -> None:
    result = runner.invoke(app, ["recipes", "list"])  # cwd is a tmp dir
    assert result.exit_code == 2 and "clone it" in result.output
    result = runner.invoke(app, ["recipes", "run", "langchain/nope", "--dir", str(ROOT / "recipes")])
    assert result.exit_code == 2 and "Unknown recipe" in result.output and "langchain/chat_streaming" in result.output
