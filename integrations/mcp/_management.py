"""Cloud MCP endpoint management (kluster-docs "Cloud MCP API usage"): `status()`, `enable()`,
`disable()` over `/v1/mcp/status|enable|disable`. `enable()` returns the MCP token, a secret kept as
`SecretStr` and registered with `errors.redact`, so it never shows in a repr, log line or exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from kluster_agents.integrations._api.client import make_client, translate_errors
from kluster_agents.integrations._api.errors import (
    KlusterVerifyError,
    redact,
    register_secret,
)
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings


class MCPEndpoint(BaseModel):
    """The state of your cloud MCP endpoint. `token` is the MCP token (secret)."""

    model_config = ConfigDict(frozen=True)

    enabled: bool
    url: str | None = None
    token: SecretStr | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> MCPEndpoint:
        # `enable` calls the token "token"; `status` calls it "apiKey" (docs "Cloud MCP API usage").
        raw_token = body.get("token") or body.get("apiKey") or None
        register_secret(raw_token)
        return cls(
            enabled=bool(body.get("enabled")),
            url=body.get("url") or None,
            token=SecretStr(raw_token) if raw_token else None,
        )


def _management_call(method: Literal["get", "post"], path: str, settings: KlusterSettings | None) -> MCPEndpoint:
    client = make_client(resolve_settings(settings))
    with translate_errors():
        if method == "post":  # the SDK would send an empty JSON body, which kluster.ai answers with HTTP 500
            response = client.post(path, cast_to=httpx.Response, body={})
        else:
            response = client.get(path, cast_to=httpx.Response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        raise KlusterVerifyError(
            f"kluster.ai answered {path} with unexpected content ({redact(response.text)[:120]!r})."
        )
    return MCPEndpoint.from_body(body)


def status(settings: KlusterSettings | None = None) -> MCPEndpoint:
    """Whether the cloud MCP endpoint is enabled (and its URL/token when it is)."""
    return _management_call("get", "/mcp/status", settings)


def enable(settings: KlusterSettings | None = None) -> MCPEndpoint:
    """Enable the cloud MCP endpoint; the answer carries the MCP token."""
    return _management_call("post", "/mcp/enable", settings)


def disable(settings: KlusterSettings | None = None) -> MCPEndpoint:
    """Disable the cloud MCP endpoint (the token stops working until enabled again)."""
    endpoint = _management_call("post", "/mcp/disable", settings)
    return endpoint if "enabled" in endpoint.model_fields_set else MCPEndpoint(enabled=False)
