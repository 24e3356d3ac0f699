"""Local MCP server: `build_local_server()` / `serve(transport="stdio"|"http")` expose the cloud
tools' names and arguments backed by `POST /v1/verify/reliability`, so any MCP client (Claude
desktop, Cursor, PydanticAI's MCP toolsets) can verify through your API key.
`python -m kluster_agents.integrations.mcp._server` serves over stdio.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Literal

from kluster_agents.integrations._api.errors import (
    KlusterConfigError,
)
from kluster_agents.integrations._api.extras import require
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._verify.client import VerifyClient
from kluster_agents.integrations._verify.result import VerifyResult

DEFAULT_LOCAL_PORT = 3001  # the self-hosted server's documented port
LOCAL_HTTP_PATH = "/stream"  # ... and its documented MCP path


def build_local_server(
    settings: KlusterSettings | None = None,
    *,
    client: VerifyClient | None = None,
    host: str = "127.0.0.1",
    path: str = LOCAL_HTTP_PATH,
) -> Any:
    """A FastMCP server with the cloud tools' names and arguments, answered by the Verify API."""
    from kluster_agents.integrations.mcp._tools import build_verify_mcp_server

    verifier = client or VerifyClient(settings)

    async def reliability(prompt: str, output: str, context: str | None, return_search_results: bool) -> dict[str, Any]:
        result = await verifier.averify(prompt, output, context, return_search_results)
        return result.model_dump(include={"is_hallucination", "explanation", "usage", "search_results"})

    return build_verify_mcp_server(reliability, name="kluster-verify-local", path=path, host=host)


async def call_local_tool(server: Any, name: str, arguments: dict[str, Any]) -> VerifyResult:
    """Call one of the local server's tools in-process, over a fresh in-memory MCP session (what the
    adapters' `local_mcp_tools` do per call)."""
    require("mcp", "mcp")
    from mcp.shared.memory import create_connected_server_and_client_session

    from kluster_agents.integrations.mcp._cloud import result_from_tool

    async with create_connected_server_and_client_session(server) as session:
        started = time.monotonic()
        result = await session.call_tool(name, arguments)
        return result_from_tool(result, latency_s=time.monotonic() - started)


def serve(
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = DEFAULT_LOCAL_PORT,
    *,
    settings: KlusterSettings | None = None,
) -> None:
    """Run the local MCP server until interrupted: stdio (for clients that spawn it) or
    streamable HTTP at http://host:port/stream (the self-hosted server's address)."""
    if transport not in ("stdio", "http"):
        raise KlusterConfigError(f"transport must be 'stdio' or 'http', got {transport!r}.")
    settings = resolve_settings(settings)
    settings.require_api_key()  # fail now, not on the first tool call
    server = build_local_server(settings, host=host)
    if transport == "stdio":
        server.run("stdio")
        return
    server.settings.port = port
    print(
        f"kluster Verify MCP server on http://{host}:{port}{LOCAL_HTTP_PATH} (tools: verify, verify_document)",
        file=sys.stderr,
    )
    server.run("streamable-http")


if __name__ == "__main__":
    serve("stdio")
