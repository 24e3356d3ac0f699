"""`kluster-agents verify` and `kluster-agents mcp ...`: verdicts, exit codes, JSON, secrets."""

from __future__ import annotations

import json

import pytest
import respx
import typer
from typer.testing import CliRunner

from kluster_agents.integrations._cli.verify import mcp_app, verify_command
from tests.verify_double import BASE_URL, DOCS_HALLUCINATION, RELIABLE, SECRET_KEY, json_response

MCP_TOKEN = "MCP_TOKEN-cli-test-9f8e7d"

app = typer.Typer()
app.command("verify")(verify_command)
app.add_typer(mcp_app, name="mcp")
runner = CliRunner()


@pytest.fixture(autouse=True)
def kluster_env(monkeypatch):
    monkeypatch.setenv("KLUSTER_API_KEY", SECRET_KEY)
    monkeypatch.setenv("KLUSTER_BASE_URL", BASE_URL)
    monkeypatch.setenv("KLUSTER_MAX_RETRIES", "0")


@respx.mock
def test_reliable_exits_0():
    respx.post(f"{BASE_URL}/verify/reliability").mock(return_value=json_response(RELIABLE))
    result = runner.invoke(app, ["verify", "--prompt", "Capital of France?", "--output", "Paris."])
    assert result.exit_code == 0, result.output
    assert "RELIABLE" in result.output and "Supported." in result.output


@respx.mock
def test_hallucination_exits_1_and_shows_the_explanation():
    respx.post(f"{BASE_URL}/verify/reliability").mock(return_value=json_response(DOCS_HALLUCINATION))
    result = runner.invoke(app, ["verify", "-p", "Where is the Eiffel Tower?", "-o", "In Rome."])
    assert result.exit_code == 1
    assert "HALLUCINATION" in result.output and "Paris, France" in result.output


@respx.mock
def test_json_output_with_context_file_and_stdin(tmp_path):
    route = respx.post(f"{BASE_URL}/verify/reliability").mock(
        return_value=json_response(RELIABLE, headers={"x-kluster-emulator": "true"})
    )
    context = tmp_path / "invoice.txt"
    context.write_text("InvID:INV7701B Date:22May25")
    result = runner.invoke(
        app,
        ["verify", "-p", "Invoice date?", "-o", "-", "--context-file", str(context), "--json"],
        input="May 22, 2025",
    )
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload["status"] == "reliable" and payload["emulated"] is True
    assert json.loads(route.calls[0].request.content) == {
        "prompt": "Invoice date?",
        "output": "May 22, 2025",
        "context": "InvID:INV7701B Date:22May25",
    }


@respx.mock
def test_outage_exits_2_with_a_readable_error():
    respx.post(f"{BASE_URL}/verify/reliability").mock(return_value=json_response({"error": {"message": "down"}}, 503))
    result = runner.invoke(app, ["verify", "-p", "q", "-o", "a"])
    assert result.exit_code == 2 and "HTTP 503" in result.output


def test_missing_key_exits_2(monkeypatch):
    monkeypatch.delenv("KLUSTER_API_KEY")
    result = runner.invoke(app, ["verify", "-p", "q", "-o", "a"])
    assert result.exit_code == 2 and "KLUSTER_API_KEY" in result.output


@respx.mock
def test_mcp_enable_hides_the_token_unless_asked():
    respx.post(f"{BASE_URL}/mcp/enable").mock(
        return_value=json_response({"enabled": True, "url": "https://api.kluster.ai/v1/mcp", "token": MCP_TOKEN})
    )
    hidden = runner.invoke(app, ["mcp", "enable"])
    assert hidden.exit_code == 0 and "enabled" in hidden.output
    assert MCP_TOKEN not in hidden.output and "hidden" in hidden.output
    shown = runner.invoke(app, ["mcp", "enable", "--show-token"])
    assert MCP_TOKEN in shown.output


@respx.mock
def test_mcp_status_and_disable():
    respx.get(f"{BASE_URL}/mcp/status").mock(return_value=json_response({"enabled": False, "url": "", "apiKey": ""}))
    respx.post(f"{BASE_URL}/mcp/disable").mock(return_value=json_response({"enabled": False}))
    status = runner.invoke(app, ["mcp", "status"])
    assert status.exit_code == 0 and "disabled" in status.output and "Token" not in status.output
    assert runner.invoke(app, ["mcp", "disable"]).exit_code == 0


def test_mcp_serve_refuses_an_unknown_transport():
    result = runner.invoke(app, ["mcp", "serve", "--transport", "carrier-pigeon"])
    assert result.exit_code == 2 and "stdio" in result.output
