"""kluster.ai MCP: manage the cloud endpoint, call its Verify tools, or serve the same tools locally.

`from kluster_agents.integrations import mcp` then `mcp.enable()`, `mcp.CloudMCPClient(...)`,
`mcp.serve("stdio")`.

Names load on first use (PEP 562): the MCP SDK and the local server load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kluster_agents.integrations._lazy import lazy_exports

if TYPE_CHECKING:
    from kluster_agents.integrations.mcp._cloud import CloudMCPClient, result_from_tool
    from kluster_agents.integrations.mcp._management import MCPEndpoint, disable, enable, status
    from kluster_agents.integrations.mcp._server import DEFAULT_LOCAL_PORT, LOCAL_HTTP_PATH, build_local_server, serve

_EXPORTS = {
    "CloudMCPClient": "_cloud",
    "result_from_tool": "_cloud",
    "MCPEndpoint": "_management",
    "disable": "_management",
    "enable": "_management",
    "status": "_management",
    "DEFAULT_LOCAL_PORT": "_server",
    "LOCAL_HTTP_PATH": "_server",
    "build_local_server": "_server",
    "serve": "_server",
}

__all__ = [
    "DEFAULT_LOCAL_PORT",
    "LOCAL_HTTP_PATH",
    "CloudMCPClient",
    "MCPEndpoint",
    "build_local_server",
    "disable",
    "enable",
    "result_from_tool",
    "serve",
    "status",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
