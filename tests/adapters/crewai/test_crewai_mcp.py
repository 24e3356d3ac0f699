"""The kluster Verify MCP as CrewAI tools, through real MCP sessions (the emulator's cloud endpoint,
and the local server in-process)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kluster_agents.adapters.crewai import kluster_mcp_tools, local_mcp_tools
from kluster_agents.integrations import KlusterConfigError
from kluster_agents.integrations import mcp as kluster_mcp
from kluster_agents.integrations.emulator import ToolCall

CLAIM = {
    "prompt": "Is the Great Wall of China visible from space?",
    "response": "Yes, the Great Wall of China is visible from space with the naked eye.",
}


def test_cloud_mcp_tools_verify_through_a_crew(kluster_emulator: Any, make_llm: Any, crew_of: Any) -> None:
    token = kluster_mcp.enable(kluster_emulator.settings).token.get_secret_value()
    tools = kluster_mcp_tools(settings=kluster_emulator.settings)  # token read from /v1/mcp/status
    assert [t.name for t in tools] == ["verify", "verify_document"]
    assert all(token not in repr(t) and token not in str(t.model_dump()) for t in tools)
    kluster_emulator.controls.script(ToolCall("verify", CLAIM), "The claim is a hallucination.")
    result = crew_of(make_llm(), tools=tools, description="Check this claim with the verify tool.").kickoff()
    assert result.raw == "The claim is a hallucination."
    chats = [r.body for r in kluster_emulator.controls.requests if r.path.endswith("/chat/completions")]
    assert {t["function"]["name"] for t in chats[0]["tools"]} == {"verify", "verify_document"}
    tool_message = next(m for m in chats[1]["messages"] if m["role"] == "tool")
    verdict = json.loads(tool_message["content"])
    assert verdict["is_hallucination"] is True and verdict["explanation"]
    assert any(r.path == "/v1/mcp" for r in kluster_emulator.controls.requests)


def test_cloud_verify_document_tool_runs_directly(kluster_emulator: Any) -> None:
    token = kluster_mcp.enable(kluster_emulator.settings).token
    verify_document = kluster_mcp_tools(token, settings=kluster_emulator.settings)[1]
    verdict = json.loads(
        verify_document.run(
            prompt="When was the Eiffel Tower completed?",
            response="It was completed in 1889.",
            document_content="The Eiffel Tower was completed in 1889 for the World's Fair.",
        )
    )
    assert verdict["is_hallucination"] is False


def test_cloud_mcp_disabled_is_a_clear_error(kluster_emulator: Any) -> None:
    with pytest.raises(KlusterConfigError, match="mcp enable"):
        kluster_mcp_tools(settings=kluster_emulator.settings)


def test_wrong_token_is_rejected_and_never_shown(kluster_emulator: Any) -> None:
    kluster_mcp.enable(kluster_emulator.settings)
    verify = kluster_mcp_tools("not-the-token", settings=kluster_emulator.settings)[0]
    with pytest.raises(Exception) as info:
        verify.run(**CLAIM)
    assert "not-the-token" not in str(info.value) and "not-the-token" not in repr(verify)


def test_local_mcp_tools_answer_from_the_verify_api(kluster_emulator: Any) -> None:
    verify = local_mcp_tools(kluster_emulator.settings)[0]
    verdict = json.loads(verify.run(**CLAIM))
    assert verdict["is_hallucination"] is True and verdict["explanation"]
    assert not any(r.path == "/v1/mcp" for r in kluster_emulator.controls.requests)  # served in-process
