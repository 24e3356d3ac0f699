"""kluster.ai's Verify MCP tools (`verify`, `verify_document`) as PydanticAI toolsets.

- `kluster_mcp_toolset()`: the cloud MCP endpoint (`<base_url>/mcp`, streamable HTTP), with
  the MCP token — passed in, or read from `/v1/mcp/status` with your API key (enable it
  once with `kluster-agents mcp enable`). The token is a secret: it travels as a bearer
  auth object, never in a header dict or repr.
- `local_mcp_toolset()`: the same tools served in-process by `integrations.mcp`'s local
  server (what `kluster-agents mcp serve` runs), backed by the Verify API and your API key.

Both return pydantic-ai's `MCPToolset` (FastMCP client): `Agent(model, toolsets=[...])`.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from kluster_agents.integrations._api.extras import require

require("mcp", "mcp")
require("fastmcp", "mcp")  # PydanticAI's MCPToolset runs on the fastmcp client

from pydantic_ai.mcp import MCPToolset

from kluster_agents.integrations import mcp as kluster_mcp
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations.mcp._endpoint import BearerToken, cloud_endpoint


def kluster_mcp_toolset(
    token: str | SecretStr | None = None,
    *,
    url: str | None = None,
    settings: KlusterSettings | None = None,
    **toolset_kwargs: Any,
) -> MCPToolset[Any]:
    """The cloud Verify MCP as a toolset; `toolset_kwargs` go to `MCPToolset` (e.g. `id`, `max_retries`)."""
    endpoint, secret = cloud_endpoint(token, url, resolve_settings(settings))
    return MCPToolset(endpoint, auth=BearerToken(secret), **toolset_kwargs)


def local_mcp_toolset(settings: KlusterSettings | None = None, **toolset_kwargs: Any) -> MCPToolset[Any]:
    """The local Verify MCP server (same tools), in-process over a real MCP session."""
    settings = resolve_settings(settings)
    settings.require_api_key()
    return MCPToolset(kluster_mcp.build_local_server(settings), **toolset_kwargs)
