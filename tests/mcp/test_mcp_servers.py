"""MCP end to end: the cloud-MCP client against the emulator's /v1/mcp, and the local MCP
server (`python -m kluster_agents.integrations.mcp._server`) through real MCP client sessions over
stdio and streamable HTTP on loopback, backed by the emulator's Verify API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from kluster_agents.integrations import mcp
from kluster_agents.integrations._api.errors import KlusterVerifyError
from kluster_agents.integrations.mcp import CloudMCPClient, result_from_tool

GREAT_WALL = (
    "Is the Great Wall of China visible from space?",
    "Yes, the Great Wall of China is visible from space with the naked eye.",
)
CONTRACT = "Section 4.2: employees work on site at least 3 days per week and live within 50 miles of headquarters."


def test_cloud_client_against_the_emulator(kluster_emulator):
    settings = kluster_emulator.settings
    enabled = mcp.enable(settings)
    assert enabled.enabled and enabled.url.endswith("/v1/mcp")
    client = CloudMCPClient(settings=settings)  # token and URL come from status()
    assert sorted(client.list_tools()) == ["verify", "verify_document"]
    result = client.verify(*GREAT_WALL)
    assert result.is_hallucination and result.source == "mcp" and result.emulated
    assert result.usage and result.usage["total_tokens"] > 0
    doc = client.verify_document(
        "Does the contract allow unlimited remote work?", "Yes, remote work is unlimited under Section 7.", CONTRACT
    )
    assert doc.is_hallucination and "7" in doc.explanation


async def test_async_session_reuse_and_wrong_token(kluster_emulator):
    settings = kluster_emulator.settings
    token = mcp.enable(settings).token
    async with CloudMCPClient(token=token, url=kluster_emulator.base_url + "/mcp") as client:
        first = await client.averify("What is 2 + 2?", "2 + 2 is 4.")
        second = await client.averify_document(
            "Where do employees work?", "On site at least 3 days per week.", CONTRACT
        )
    assert first.reliable and second.reliable
    bad = "MCP_TOKEN_wrong_but_secret_123456"
    with pytest.raises(KlusterVerifyError) as info:
        await CloudMCPClient(token=bad, url=kluster_emulator.base_url + "/mcp").averify(*GREAT_WALL)
    assert bad not in str(info.value)
    mcp.disable(settings)
    with pytest.raises(KlusterVerifyError):
        await CloudMCPClient(token=token, url=kluster_emulator.base_url + "/mcp").averify(*GREAT_WALL)


def _server_env(emulator) -> dict[str, str]:
    return {"KLUSTER_API_KEY": emulator.api_key, "KLUSTER_BASE_URL": emulator.base_url, "KLUSTER_MAX_RETRIES": "0"}


async def _exercise(session: ClientSession) -> None:
    await session.initialize()
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {"verify", "verify_document"}
    assert set(tools["verify_document"].inputSchema["required"]) == {"prompt", "response", "documentContent"}
    flagged = result_from_tool(
        await session.call_tool("verify", {"prompt": GREAT_WALL[0], "response": GREAT_WALL[1]}), latency_s=0
    )
    assert flagged.is_hallucination and flagged.explanation.startswith("[emulated]")
    supported = await session.call_tool(
        "verify_document",
        {
            "prompt": "Where do employees work?",
            "response": "On site at least 3 days per week.",
            "documentContent": CONTRACT,
            "returnSearchResults": False,
        },
    )
    assert result_from_tool(supported, latency_s=0).reliable


async def test_local_server_over_stdio(kluster_emulator):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "kluster_agents.integrations.mcp._server"],
        env=_server_env(kluster_emulator),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await _exercise(session)
    assert kluster_emulator.controls.count("/v1/verify/reliability", "POST") == 2


@pytest.fixture
def local_http_server(kluster_emulator, free_port):
    port = free_port()
    code = f"from kluster_agents.integrations.mcp._server import serve; serve('http', port={port})"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **_server_env(kluster_emulator)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/stream"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)  # any HTTP answer means it is listening
            break
        except httpx.TransportError:
            if process.poll() is not None:
                pytest.fail(f"local MCP server exited: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


async def test_local_server_over_streamable_http(local_http_server, kluster_emulator):
    async with (
        httpx.AsyncClient() as http,
        streamable_http_client(local_http_server, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await _exercise(session)
    # and the package's own cloud client speaks to it too (any MCP client works)
    result = await CloudMCPClient(token="unused-locally", url=local_http_server).averify(*GREAT_WALL)
    assert result.is_hallucination


def test_serve_without_a_key_fails_before_starting():
    with pytest.raises(Exception, match="KLUSTER_API_KEY"):
        mcp.serve("stdio")


def test_local_tools_return_the_documented_shape(kluster_emulator):
    import asyncio

    server = mcp.build_local_server(kluster_emulator.settings)
    content, structured = asyncio.run(server.call_tool("verify", {"prompt": GREAT_WALL[0], "response": GREAT_WALL[1]}))
    payload = structured.get("result", structured) if isinstance(structured, dict) else json.loads(content[0].text)
    assert set(payload) == {"prompt", "response", "is_hallucination", "explanation", "confidence", "search_results"}
