"""kluster.ai MCP: manage the cloud endpoint, call its Verify tools, or serve the same tools locally.

`from kluster_agents.integrations import mcp` then `mcp.enable()`, `mcp.CloudMCPClient(...)`,
`mcp.serve("stdio")`.

Names load on first use (PEP 562): the MCP SDK and the local server load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kluster_agents.integrations._lazy import lazy_exports

if TYPE_CHECKING:
    from kluster_agents.integrations.mcp.cloud import CloudMCPClient, result_from_tool
    from kluster_agents.integrations.mcp.management import MCPEndpoint, disable, enable, status
    from kluster_agents.integrations.mcp.server import DEFAULT_LOCAL_PORT, LOCAL_HTTP_PATH, build_local_server, serve

_EXPORTS = {
    "CloudMCPClient": "cloud",
    "result_from_tool": "cloud",
    "MCPEndpoint": "management",
    "disable": "management",
    "enable": "management",
    "status": "management",
    "DEFAULT_LOCAL_PORT": "server",
    "LOCAL_HTTP_PATH": "server",
    "build_local_server": "server",
    "serve": "server",
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
