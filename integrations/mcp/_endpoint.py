"""The cloud MCP endpoint for adapters: its URL and token (looked up with the API key via
`/v1/mcp/status` when not given), and bearer auth that never shows the token."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from kluster_agents.integrations import mcp as kluster_mcp
from kluster_agents.integrations.api.errors import KlusterConfigError, register_secret
from kluster_agents.integrations.api.settings import KlusterSettings


class BearerToken(httpx.Auth):
    """Bearer auth whose repr does not reveal the token."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "BearerToken(***)"


def cloud_endpoint(token: str | SecretStr | None, url: str | None, settings: KlusterSettings) -> tuple[str, SecretStr]:
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
