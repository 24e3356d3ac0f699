"""kluster.ai MCP: manage the cloud endpoint, call its Verify tools, or serve the same tools locally.

`from kluster_agents.integrations import mcp` then `mcp.enable()`, `mcp.CloudMCPClient(...)`,
`mcp.serve("stdio")`.
"""

from __future__ import annotations

from kluster_agents.integrations.mcp.cloud import CloudMCPClient, result_from_tool
from kluster_agents.integrations.mcp.management import MCPEndpoint, disable, enable, status
from kluster_agents.integrations.mcp.server import DEFAULT_LOCAL_PORT, LOCAL_HTTP_PATH, build_local_server, serve

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
