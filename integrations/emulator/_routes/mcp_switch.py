"""`/v1/mcp/status|enable|disable`: the Cloud MCP endpoint switch and its token (a secret:
registered for redaction, never logged). The MCP protocol itself is served at `/v1/mcp` by the
gateway with the `verify`/`verify_document` tools from `mcp_tools`."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kluster_agents.integrations._api.errors import register_secret
from kluster_agents.integrations.emulator._server.gateway import MCP_PATH
from kluster_agents.integrations.emulator._server.runtime import MCP_ID, MCP_KIND
from kluster_agents.integrations.emulator._server.web import FastJSONResponse, emulated, runtime

router = APIRouter()
_DISABLED = {"enabled": False, "url": "", "apiKey": ""}


def _url(request: Request) -> str:
    """The MCP URL on the address the emulator is bound to (never the client-supplied Host header)."""
    server = request.scope.get("server")
    if not server:
        return "http://127.0.0.1" + MCP_PATH
    host, port = server[0], server[1]
    return f"{request.url.scheme}://{host}:{port}{MCP_PATH}" if port else f"{request.url.scheme}://{host}{MCP_PATH}"


@router.get("/mcp/status")
async def status(request: Request) -> Response:
    token = runtime(request).mcp_token()
    body: dict[str, Any] = {"enabled": True, "url": _url(request), "apiKey": token} if token else _DISABLED
    return FastJSONResponse(emulated(body))


@router.post("/mcp/enable")
async def enable(request: Request) -> Response:
    rt = runtime(request)
    token = rt.mcp_token() or f"MCP_TOKEN_emulated_{secrets.token_hex(16)}"
    register_secret(token)
    rt.store.put(MCP_KIND, {"id": MCP_ID, "enabled": True, "token": token})
    return FastJSONResponse(emulated({"enabled": True, "url": _url(request), "token": token}))


@router.post("/mcp/disable")
async def disable(request: Request) -> Response:
    runtime(request).store.put(MCP_KIND, {"id": MCP_ID, "enabled": False, "token": None})
    return FastJSONResponse(emulated(_DISABLED))
