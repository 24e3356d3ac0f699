"""kluster.ai's Verify MCP tools (`verify`, `verify_document`) as CrewAI tools.

- `kluster_mcp_tools()`: the cloud MCP endpoint (`<base_url>/mcp`, streamable HTTP), with the MCP
  token — passed in, or read from `/v1/mcp/status` with your API key (enable it once with
  `kluster-agents mcp enable`). The token stays a `SecretStr` inside the tools' client: never in a
  header dict, a tool's fields or a repr (CrewAI's own `MCPServerHTTP` takes it as a plain header).
- `local_mcp_tools()`: the same tools served in-process by `integrations.mcp`'s local server (what
  `kluster-agents mcp serve` runs), backed by the Verify API and your API key, over an MCP session.

Both return CrewAI `BaseTool`s: `Agent(..., tools=kluster_mcp_tools())`. A tool answers the agent
with the verdict as JSON; errors (disabled endpoint, wrong token, Verify outage) are raised as
`KlusterError`s, which CrewAI reports to the agent as a failed tool call.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from crewai.tools import BaseTool
from pydantic import BaseModel, Field, PrivateAttr, SecretStr

from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._verify.result import VerifyResult
from kluster_agents.integrations.mcp._endpoint import cloud_endpoint
from kluster_agents.integrations.mcp._server import call_local_tool


class VerifyBackend(Protocol):
    """Where the tools' calls go: `CloudMCPClient`, or the local server's session (`_LocalMCP`)."""

    async def averify(self, prompt: str, response: str, return_search_results: bool = True) -> VerifyResult: ...

    async def averify_document(
        self, prompt: str, response: str, document_content: str, return_search_results: bool = True
    ) -> VerifyResult: ...


class VerifyArgs(BaseModel):
    """Arguments of the `verify` tool."""

    prompt: str = Field(description="The question or request the response answers.")
    response: str = Field(description="The response to check against reliable sources.")


class VerifyDocumentArgs(VerifyArgs):
    """Arguments of the `verify_document` tool."""

    document_content: str = Field(description="The document the response must be supported by.")


def _verdict_text(result: VerifyResult) -> str:
    verdict: dict[str, Any] = {"is_hallucination": result.is_hallucination, "explanation": result.explanation}
    if result.emulated:
        verdict["emulated"] = True
    return json.dumps(verdict, ensure_ascii=False)


class _MCPVerifyTool(BaseTool):
    """A Verify MCP tool over a `VerifyBackend` (the cloud endpoint or the local server)."""

    _backend: VerifyBackend = PrivateAttr()

    def _run(self, **arguments: Any) -> str:
        from kluster_agents.integrations.mcp._cloud import run_sync

        return run_sync(self._arun(**arguments))

    async def _arun(self, **arguments: Any) -> str:
        return _verdict_text(await self._verify(**arguments))

    async def _verify(self, **arguments: Any) -> VerifyResult:
        raise NotImplementedError


class KlusterMCPVerifyTool(_MCPVerifyTool):
    """The MCP `verify` tool: a response checked against reliable sources."""

    name: str = "verify"
    description: str = (
        "Verify a prompt and response pair against reliable sources. Returns JSON with is_hallucination "
        "and an explanation."
    )
    args_schema: type[BaseModel] = VerifyArgs

    async def _verify(self, **arguments: Any) -> VerifyResult:
        return await self._backend.averify(arguments["prompt"], arguments["response"], False)


class KlusterMCPVerifyDocumentTool(_MCPVerifyTool):
    """The MCP `verify_document` tool: a response checked against a document."""

    name: str = "verify_document"
    description: str = (
        "Verify that a response about a document accurately reflects the document's content. Returns JSON "
        "with is_hallucination and an explanation."
    )
    args_schema: type[BaseModel] = VerifyDocumentArgs

    async def _verify(self, **arguments: Any) -> VerifyResult:
        return await self._backend.averify_document(
            arguments["prompt"], arguments["response"], arguments["document_content"], False
        )


class _LocalMCP:
    """The local Verify MCP server, called in-process over a fresh MCP session per call."""

    def __init__(self, server: Any) -> None:
        self._server = server

    async def _call(self, name: str, arguments: dict[str, Any]) -> VerifyResult:
        return await call_local_tool(self._server, name, arguments)

    async def averify(self, prompt: str, response: str, return_search_results: bool = True) -> VerifyResult:
        arguments = {"prompt": prompt, "response": response, "returnSearchResults": return_search_results}
        return await self._call("verify", arguments)

    async def averify_document(
        self, prompt: str, response: str, document_content: str, return_search_results: bool = True
    ) -> VerifyResult:
        arguments = {
            "prompt": prompt,
            "response": response,
            "documentContent": document_content,
            "returnSearchResults": return_search_results,
        }
        return await self._call("verify_document", arguments)


def _tools(backend: VerifyBackend) -> list[BaseTool]:
    tools: list[_MCPVerifyTool] = [KlusterMCPVerifyTool(), KlusterMCPVerifyDocumentTool()]
    for mcp_tool in tools:
        mcp_tool._backend = backend
    return list(tools)


def kluster_mcp_tools(
    token: str | SecretStr | None = None, *, url: str | None = None, settings: KlusterSettings | None = None
) -> list[BaseTool]:
    """The cloud Verify MCP's tools; without `token`, it is read now from `/v1/mcp/status`
    (a disabled endpoint is a `KlusterConfigError` here, not at the agent's first tool call)."""
    from kluster_agents.integrations.mcp._cloud import CloudMCPClient

    settings = resolve_settings(settings)
    endpoint, secret = cloud_endpoint(token, url, settings)
    return _tools(CloudMCPClient(secret, endpoint, settings=settings))


def local_mcp_tools(settings: KlusterSettings | None = None) -> list[BaseTool]:
    """The local Verify MCP server's tools (same names and arguments), in-process over an MCP session."""
    from kluster_agents.integrations.mcp import build_local_server

    settings = resolve_settings(settings)
    settings.require_api_key()
    return _tools(_LocalMCP(build_local_server(settings)))
