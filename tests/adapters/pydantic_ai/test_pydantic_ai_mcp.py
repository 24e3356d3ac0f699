"""The kluster Verify MCP as a PydanticAI toolset, through real MCP sessions."""

from __future__ import annotations

import json

import pytest
from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_mcp_toolset, kluster_model, local_mcp_toolset
from kluster_agents.integrations import KlusterConfigError
from kluster_agents.integrations import mcp as kluster_mcp
from kluster_agents.integrations.emulator._model.replies import ToolCall

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
CLAIM = {
    "prompt": "Is the Great Wall of China visible from space?",
    "response": "Yes, the Great Wall of China is visible from space with the naked eye.",
}


def agent_with(emulator, toolset) -> Agent:
    return Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=emulator.settings)), toolsets=[toolset])


def tool_message(emulator) -> dict:
    last = [r.body for r in emulator.controls.requests if r.path == "/v1/chat/completions"][-1]
    return next(m for m in last["messages"] if m["role"] == "tool")


async def test_cloud_mcp_toolset_verifies_through_the_agent(kluster_emulator) -> None:
    token = kluster_mcp.enable(kluster_emulator.settings).token.get_secret_value()
    toolset = kluster_mcp_toolset(settings=kluster_emulator.settings)  # token read from /v1/mcp/status
    assert token not in repr(toolset) and token not in repr(vars(toolset))
    kluster_emulator.controls.script(ToolCall("verify", CLAIM))
    agent = agent_with(kluster_emulator, toolset)
    async with agent:
        result = await agent.run("Check this claim with the verify tool.")
    first = next(r.body for r in kluster_emulator.controls.requests if r.path == "/v1/chat/completions")
    assert {t["function"]["name"] for t in first["tools"]} == {"verify", "verify_document"}
    verdict = json.loads(tool_message(kluster_emulator)["content"])
    assert verdict["is_hallucination"] is True and verdict["explanation"]
    assert "`verify` returned" in result.output
    assert any(r.path == "/v1/mcp" for r in kluster_emulator.controls.requests)


def test_cloud_mcp_disabled_is_a_clear_error(kluster_emulator) -> None:
    with pytest.raises(KlusterConfigError, match="mcp enable"):
        kluster_mcp_toolset(settings=kluster_emulator.settings)


async def test_wrong_token_is_rejected_by_the_endpoint(kluster_emulator) -> None:
    kluster_mcp.enable(kluster_emulator.settings)
    toolset = kluster_mcp_toolset("not-the-token", settings=kluster_emulator.settings)
    agent = agent_with(kluster_emulator, toolset)
    with pytest.raises(Exception) as info:
        await agent.run("Check a claim.")
    assert "not-the-token" not in str(info.value)


async def test_local_mcp_server_toolset_verifies_documents(kluster_emulator) -> None:
    toolset = local_mcp_toolset(kluster_emulator.settings)
    doc = "Section 4.2: on-site work is required 3 days per week."
    kluster_emulator.controls.script(
        ToolCall(
            "verify_document",
            {
                "prompt": "Does the contract allow unlimited remote work?",
                "response": "The contract allows 5 remote days per week.",
                "documentContent": doc,
            },
        )
    )
    async with agent_with(kluster_emulator, toolset) as agent:
        await agent.run("Check the answer against the contract.")
    verdict = json.loads(tool_message(kluster_emulator)["content"])
    assert verdict["is_hallucination"] is True
    (check,) = [r.body for r in kluster_emulator.controls.requests if r.path == "/v1/verify/reliability"]
    assert check["context"] == doc
