"""The kluster Verify MCP tools as LangChain tools, through real MCP sessions (cloud endpoint of
the emulator, and the local server in-process)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import ToolMessage

from kluster_agents.adapters.langchain import ChatKluster, kluster_mcp_tools, local_mcp_tools
from kluster_agents.integrations import KlusterConfigError
from kluster_agents.integrations import mcp as kluster_mcp
from kluster_agents.integrations._verify.result import VerifyResult
from kluster_agents.integrations.emulator._model.replies import ToolCall

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
CLAIM = {
    "prompt": "Is the Great Wall of China visible from space?",
    "response": "Yes, the Great Wall of China is visible from space with the naked eye.",
}
DOC = "Section 4.2: on-site work is required 3 days per week."
DOC_CLAIM = {
    "prompt": "Does the contract allow unlimited remote work?",
    "response": "The contract allows 5 remote days per week.",
    "documentContent": DOC,
}


def agent_with(emulator: Any, tools: list) -> Any:
    return create_agent(ChatKluster(model=LLAMA, settings=emulator.settings), tools=tools)


def tool_messages(state: dict) -> list[ToolMessage]:
    return [m for m in state["messages"] if isinstance(m, ToolMessage)]


def test_cloud_mcp_tools_verify_through_an_agent(kluster_emulator: Any) -> None:
    token = kluster_mcp.enable(kluster_emulator.settings).token.get_secret_value()
    tools = kluster_mcp_tools(settings=kluster_emulator.settings)  # token read from /v1/mcp/status
    assert [t.name for t in tools] == ["verify", "verify_document"]
    assert all(token not in repr(t) for t in tools)
    kluster_emulator.controls.script(ToolCall("verify", CLAIM))
    state = agent_with(kluster_emulator, tools).invoke({"messages": [("user", "Check this claim with verify.")]})
    first = next(r.body for r in kluster_emulator.controls.requests if r.path == "/v1/chat/completions")
    assert {t["function"]["name"] for t in first["tools"]} == {"verify", "verify_document"}
    [message] = tool_messages(state)
    verdict = json.loads(message.content)
    assert verdict["is_hallucination"] is True and verdict["explanation"]
    assert isinstance(message.artifact, VerifyResult) and message.artifact.source == "mcp"
    assert any(r.path == "/v1/mcp" for r in kluster_emulator.controls.requests)


async def test_cloud_mcp_tool_called_directly_async(kluster_emulator: Any) -> None:
    token = kluster_mcp.enable(kluster_emulator.settings).token
    verify = kluster_mcp_tools(token, settings=kluster_emulator.settings)[0]
    content = await verify.ainvoke(CLAIM)
    assert json.loads(content)["is_hallucination"] is True


def test_cloud_mcp_disabled_is_a_clear_error(kluster_emulator: Any) -> None:
    with pytest.raises(KlusterConfigError, match="mcp enable"):
        kluster_mcp_tools(settings=kluster_emulator.settings)


def test_wrong_token_is_rejected_without_showing_it(kluster_emulator: Any) -> None:
    kluster_mcp.enable(kluster_emulator.settings)
    verify = kluster_mcp_tools("not-the-token", settings=kluster_emulator.settings)[0]
    with pytest.raises(Exception) as info:
        verify.invoke(CLAIM)
    assert "not-the-token" not in str(info.value)


def test_local_mcp_tools_verify_documents(kluster_emulator: Any) -> None:
    tools = local_mcp_tools(kluster_emulator.settings)
    kluster_emulator.controls.script(ToolCall("verify_document", DOC_CLAIM))
    state = agent_with(kluster_emulator, tools).invoke(
        {"messages": [("user", "Check the answer against the contract.")]}
    )
    [message] = tool_messages(state)
    assert json.loads(message.content)["is_hallucination"] is True
    (check,) = [r.body for r in kluster_emulator.controls.requests if r.path == "/v1/verify/reliability"]
    assert check["context"] == DOC
