"""kluster.ai's Verify MCP tools (`verify`, `verify_document`) as LangChain tools, for agents.

- `kluster_mcp_tools()`: the cloud MCP endpoint (`<base_url>/mcp`, streamable HTTP), with the
  MCP token — passed in, or read from `/v1/mcp/status` with your API key (enable it once with
  `kluster-agents mcp enable`). The token stays a secret: never in a tool's repr or an error.
- `local_mcp_tools()`: the same tools served in-process by `integrations.mcp`'s local server
  (what `kluster-agents mcp serve` runs), backed by the Verify API and your API key.

Each is a list of `StructuredTool`s with the MCP tools' names and arguments, each call a real MCP
session: `create_agent(model, tools=kluster_mcp_tools())`. The tool message is the JSON verdict
(as the MCP tool returns it); the full `VerifyResult` is the message's `artifact`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field, SecretStr

from kluster_agents.integrations import mcp as kluster_mcp
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._verify.result import VerifyResult
from kluster_agents.integrations.mcp._cloud import run_sync
from kluster_agents.integrations.mcp._endpoint import cloud_endpoint
from kluster_agents.integrations.mcp._server import call_local_tool

Call = Callable[[str, dict[str, Any]], Coroutine[Any, Any, VerifyResult]]


class _VerifyArgs(BaseModel):
    prompt: str = Field(description="The question or task the response answers.")
    response: str = Field(description="The answer to check.")
    returnSearchResults: bool = Field(default=True, description="Include the sources Verify searched.")


class _VerifyDocumentArgs(_VerifyArgs):
    documentContent: str = Field(description="The document the response must be grounded in.")


_DESCRIPTIONS = {
    "verify": "Check whether a response to a prompt is factually reliable against reliable sources (kluster.ai Verify).",
    "verify_document": "Check whether a response is grounded in a document's text (kluster.ai Verify).",
}


def _answer(result: VerifyResult) -> tuple[str, VerifyResult]:
    return result.model_dump_json(include={"is_hallucination", "explanation", "search_results"}), result


def _tools(call: Call) -> list[BaseTool]:
    def tool(name: str, schema: type[BaseModel]) -> BaseTool:
        async def arun(**arguments: Any) -> tuple[str, VerifyResult]:
            return _answer(await call(name, arguments))

        def run(**arguments: Any) -> tuple[str, VerifyResult]:
            return _answer(run_sync(call(name, arguments)))

        return StructuredTool(
            name=name,
            description=_DESCRIPTIONS[name],
            args_schema=schema,
            func=run,
            coroutine=arun,
            response_format="content_and_artifact",
        )

    return [tool("verify", _VerifyArgs), tool("verify_document", _VerifyDocumentArgs)]


def kluster_mcp_tools(
    token: str | SecretStr | None = None, *, url: str | None = None, settings: KlusterSettings | None = None
) -> list[BaseTool]:
    """The cloud Verify MCP's tools; a disabled endpoint is a `KlusterConfigError` here, not at the first call."""
    settings = resolve_settings(settings)
    endpoint, secret = cloud_endpoint(token, url, settings)
    client = kluster_mcp.CloudMCPClient(secret, endpoint, settings=settings)

    async def call(name: str, arguments: dict[str, Any]) -> VerifyResult:
        if name == "verify_document":
            return await client.averify_document(
                arguments["prompt"],
                arguments["response"],
                arguments["documentContent"],
                arguments["returnSearchResults"],
            )
        return await client.averify(arguments["prompt"], arguments["response"], arguments["returnSearchResults"])

    return _tools(call)


def local_mcp_tools(settings: KlusterSettings | None = None) -> list[BaseTool]:
    """The local Verify MCP server's tools (same names and arguments), over an in-process MCP session."""
    settings = resolve_settings(settings)
    settings.require_api_key()
    server = kluster_mcp.build_local_server(settings)

    async def call(name: str, arguments: dict[str, Any]) -> VerifyResult:
        return await call_local_tool(server, name, arguments)

    return _tools(call)


__all__ = ["kluster_mcp_tools", "local_mcp_tools"]
