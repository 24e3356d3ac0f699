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

import httpx
from pydantic import SecretStr
from pydantic_ai.mcp import MCPToolset

from kluster_agents.integrations import mcp as kluster_mcp
from kluster_agents.integrations.api.errors import KlusterConfigError, register_secret
from kluster_agents.integrations.api.settings import KlusterSettings, resolve_settings


class _BearerToken(httpx.Auth):
    """Bearer auth whose repr does not reveal the token."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerToken(***)"


def _cloud_endpoint(token: str | SecretStr | None, url: str | None, settings: KlusterSettings) -> tuple[str, SecretStr]:
    if isinstance(token, str):
        register_secret(token)
        token = SecretStr(token)
    if token is None:
        state = kluster_mcp.status(settings)
        if not state.enabled or state.token is None:
            raise KlusterConfigError(
                "Your kluster.ai MCP endpoint is disabled: run `kluster-agents mcp enable` once "
                "(or kluster_agents.integrations.mcp.enable()), or pass the MCP token as token=."
            )
        token, url = state.token, url or state.url
    return url or f"{settings.base_url}/mcp", token


def kluster_mcp_toolset(
    token: str | SecretStr | None = None,
    *,
    url: str | None = None,
    settings: KlusterSettings | None = None,
    **toolset_kwargs: Any,
) -> MCPToolset[Any]:
    """The cloud Verify MCP as a toolset; `toolset_kwargs` go to `MCPToolset` (e.g. `id`, `max_retries`)."""
    endpoint, secret = _cloud_endpoint(token, url, resolve_settings(settings))
    return MCPToolset(endpoint, auth=_BearerToken(secret), **toolset_kwargs)


def local_mcp_toolset(settings: KlusterSettings | None = None, **toolset_kwargs: Any) -> MCPToolset[Any]:
    """The local Verify MCP server (same tools), in-process over a real MCP session."""
    settings = resolve_settings(settings)
    settings.require_api_key()
    return MCPToolset(kluster_mcp.build_local_server(settings), **toolset_kwargs)
