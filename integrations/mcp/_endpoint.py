"""Where the cloud Verify MCP endpoint is and how to authenticate to it, for every adapter's toolset.

The MCP token is a secret: it is looked up with the API key (`/v1/mcp/status`) when not given,
kept in a `SecretStr`, and sent by a bearer auth object whose repr never shows it.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx
from pydantic import SecretStr

from kluster_agents.integrations._api.errors import KlusterConfigError, register_secret
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations.mcp._management import status


class BearerToken(httpx.Auth):
    """Bearer auth whose repr does not reveal the token."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "BearerToken(***)"


def cloud_endpoint(token: str | SecretStr | None, url: str | None, settings: KlusterSettings) -> tuple[str, SecretStr]:
    """The cloud MCP URL and token: as given, else from `/v1/mcp/status` (the endpoint must be enabled)."""
    if isinstance(token, str):
        register_secret(token)
        token = SecretStr(token)
    if token is None:
        state = status(settings)
        if not state.enabled or state.token is None:
            raise KlusterConfigError(
                "Your kluster.ai MCP endpoint is disabled: run `kluster-agents mcp enable` once "
                "(or kluster_agents.integrations.mcp.enable()), or pass the MCP token as token=."
            )
        token, url = state.token, url or state.url
    return url or f"{settings.base_url}/mcp", token
