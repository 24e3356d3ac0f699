"""Helpers every route module uses: fast JSON responses, the parsed request body, the runtime,
list envelopes with `after`/`limit` paging, and the emulated-object marker."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from kluster_agents.integrations.emulator._json import dumps, loads
from kluster_agents.integrations.emulator._model.shapes import EMULATED_FIELD
from kluster_agents.integrations.emulator._server.http_errors import bad_request
from kluster_agents.integrations.emulator._server.runtime import EmulatorRuntime

JSON_BODY_SCOPE_KEY = "kluster.json"


class FastJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class EventStreamResponse(Response):
    """Server-sent events from a plain iterator of ready-made events, one body message each.

    Starlette's `StreamingResponse` runs every stream in a task group with a second task listening for
    the client's disconnect, which costs more than building the events; these events take no time to
    produce, and uvicorn drops what is sent after a disconnect, so nothing needs to listen."""

    media_type = "text/event-stream"

    def __init__(self, events: Iterable[bytes], headers: Mapping[str, str] | None = None) -> None:
        self.events = events
        self.status_code = 200
        self.background = None
        self.init_headers(headers)  # no body yet, so no Content-Length: the events go out chunked

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        for event in self.events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def runtime(request: Request) -> EmulatorRuntime:
    """The emulator serving `request` (the app keeps it in its state, where Starlette types it as Any)."""
    state: EmulatorRuntime = request.app.state.runtime
    return state


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object body, parsed once by the gateway (or here when the gateway did not).

    Every endpoint takes an object: an array, number or string is a client error (400), never a 500."""
    if JSON_BODY_SCOPE_KEY in request.scope:
        body = request.scope[JSON_BODY_SCOPE_KEY]
    else:
        raw = await request.body()
        try:
            body = loads(raw) if raw else None
        except ValueError:
            body = None
    if body is None:
        raise bad_request("The request body must be valid JSON.")
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def emulated(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of an API object marked as coming from the emulator."""
    return {**obj, EMULATED_FIELD: True}


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """An API object without the internal fields (prefixed with `_`) we keep next to it."""
    return emulated({k: v for k, v in obj.items() if not k.startswith("_")})


def page(items: list[dict[str, Any]], *, after: str | None, limit: int, max_limit: int = 100) -> dict[str, Any]:
    """An OpenAI list envelope of `items` (newest first) after the id `after`."""
    if not 1 <= limit <= max_limit:
        raise bad_request(f"`limit` must be between 1 and {max_limit}.", param="limit")
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    chunk = items[:limit]
    return {
        "object": "list",
        "data": [public(item) for item in chunk],
        "first_id": chunk[0]["id"] if chunk else None,
        "last_id": chunk[-1]["id"] if chunk else None,
        "has_more": len(items) > limit,
        EMULATED_FIELD: True,
    }
