"""Cloud MCP management (`/v1/mcp/status|enable|disable`) and MCP-token hygiene."""

from __future__ import annotations

import logging

import pytest
import respx

from kluster_agents.integrations import mcp
from kluster_agents.integrations._api.errors import KlusterAuthError, KlusterConfigError, KlusterVerifyError
from kluster_agents.integrations.mcp import CloudMCPClient, MCPEndpoint, result_from_tool
from tests.verify_double import BASE_URL, SECRET_KEY, json_response

MCP_TOKEN = "MCP_TOKEN-mgmt-test-a1b2c3"


@respx.mock
def test_enable_status_disable_round_trip(settings, caplog):
    caplog.set_level(logging.DEBUG)
    enable = respx.post(f"{BASE_URL}/mcp/enable").mock(
        return_value=json_response({"enabled": True, "url": "https://api.kluster.ai/v1/mcp", "token": MCP_TOKEN})
    )
    respx.get(f"{BASE_URL}/mcp/status").mock(
        return_value=json_response({"enabled": True, "url": "https://api.kluster.ai/v1/mcp", "apiKey": MCP_TOKEN})
    )
    respx.post(f"{BASE_URL}/mcp/disable").mock(return_value=json_response({}))

    enabled = mcp.enable(settings)
    assert enabled.enabled and enabled.url == "https://api.kluster.ai/v1/mcp"
    assert enabled.token.get_secret_value() == MCP_TOKEN
    assert enable.calls[0].request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert mcp.status(settings).token.get_secret_value() == MCP_TOKEN  # status calls it "apiKey"
    assert mcp.disable(settings) == MCPEndpoint(enabled=False)
    for text in (repr(enabled), str(enabled), enabled.model_dump_json(), caplog.text):
        assert MCP_TOKEN not in text and SECRET_KEY not in text


@respx.mock
def test_disabled_status_has_no_token(settings):
    respx.get(f"{BASE_URL}/mcp/status").mock(return_value=json_response({"enabled": False, "url": "", "apiKey": ""}))
    state = mcp.status(settings)
    assert state == MCPEndpoint(enabled=False, url=None, token=None)


@respx.mock
def test_management_errors_are_typed_and_scrubbed(settings):
    respx.post(f"{BASE_URL}/mcp/enable").mock(
        return_value=json_response({"error": {"message": f"key {SECRET_KEY} is not allowed"}}, 403)
    )
    with pytest.raises(KlusterAuthError) as info:
        mcp.enable(settings)
    assert SECRET_KEY not in str(info.value)


@respx.mock
def test_cloud_client_refuses_a_disabled_endpoint(settings):
    respx.get(f"{BASE_URL}/mcp/status").mock(return_value=json_response({"enabled": False, "url": "", "apiKey": ""}))
    with pytest.raises(KlusterConfigError, match="mcp enable"):
        CloudMCPClient(settings=settings).verify("q", "a")


def test_token_is_scrubbed_from_client_repr_and_later_errors():
    token = "MCP_TOKEN-repr-test-556677"
    client = CloudMCPClient(token=token, url="http://127.0.0.1:9/v1/mcp")
    assert token not in repr(client)
    assert token not in str(KlusterVerifyError(f"server said: token {token} rejected"))


class _Text:
    def __init__(self, text: str) -> None:
        self.text = text


class _ToolResult:
    def __init__(self, texts, *, error=False, structured=None) -> None:
        self.content = [_Text(t) for t in texts]
        self.isError = error
        self.structuredContent = structured


def test_documented_tool_answer_parses():
    # The "MCP tools reference" example: usage is called "confidence" there.
    doc = (
        '{"prompt": "Does this employment contract allow unlimited remote work?", '
        '"response": "This employment contract allows unlimited remote work.", "is_hallucination": true, '
        '"explanation": "The response is incorrect. Section 4.2 explicitly requires on-site work.", '
        '"confidence": {"completion_tokens": 156, "prompt_tokens": 890, "total_tokens": 1046}, '
        '"search_results": []}'
    )
    result = result_from_tool(_ToolResult([doc]), latency_s=0.1)
    assert result.is_hallucination and result.source == "mcp"
    assert result.usage == {"completion_tokens": 156, "prompt_tokens": 890, "total_tokens": 1046}
    structured = result_from_tool(_ToolResult([], structured={"result": {"is_hallucination": False}}), latency_s=0)
    assert structured.reliable


def test_tool_errors_and_non_json_answers_are_errors():
    with pytest.raises(KlusterVerifyError, match="failed"):
        result_from_tool(_ToolResult(["upstream timeout"], error=True), latency_s=0)
    with pytest.raises(KlusterVerifyError, match="without a JSON verdict"):
        result_from_tool(_ToolResult(["all good"]), latency_s=0)
