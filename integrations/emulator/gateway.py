"""The outermost ASGI layer: everything that happens before a route runs, in the order the
real service's edge would do it — request log, injected faults, body-size limit, authentication,
rate limits — and the `x-kluster-emulator: true` header on every response.

It wraps the FastAPI app directly (not as Starlette middleware) so that it holds uvicorn's own
`send`, which is what lets it drop a connection without answering.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from kluster_agents.integrations.emulator.errors import EmulatorAPIError, rate_limited, server_error, unauthorized
from kluster_agents.integrations.emulator.inspector_log import observe_request, observe_response
from kluster_agents.integrations.emulator.runtime import EmulatorRuntime
from kluster_agents.integrations.emulator.web import JSON_BODY_SCOPE_KEY, dumps, loads

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

EMULATOR_HEADER = (b"x-kluster-emulator", b"true")
MCP_PATH = "/v1/mcp"
CHAT_PATH = "/v1/chat/completions"
INSPECTOR_PATH = "/inspector"  # the inspector page: its own token, not logged, no faults


class Gateway:
    """See the module docstring. `mcp_app` serves the MCP endpoint (authenticated by MCP token)."""

    def __init__(self, app: ASGIApp, runtime: EmulatorRuntime, mcp_app: ASGIApp | None = None) -> None:
        self.app = app
        self.runtime = runtime
        self.mcp_app = mcp_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(INSPECTOR_PATH):
            await self.app(scope, receive, send)
            return
        controls = self.runtime.controls
        raw_send, path = send, scope["path"]
        headers = dict(scope["headers"])

        length = int(headers.get(b"content-length", b"0") or 0)
        if length > controls.max_request_bytes:
            await _send_error(
                raw_send,
                EmulatorAPIError(
                    413,
                    f"Request body of {length} bytes is over the {controls.max_request_bytes}-byte limit.",
                    code="request_too_large",
                ),
            )
            return
        body = await _read_body(receive)
        parsed = _parse_json(body, headers)
        record = controls.record(scope["method"], path, scope.get("query_string", b"").decode(), parsed)
        observe_request(record, headers)

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                message["headers"] = [*message.get("headers", []), EMULATOR_HEADER]
            observe_response(record, message)
            await raw_send(message)

        if await self._inject_fault(path, raw_send, send_marked):
            return
        try:
            self._authenticate(path, headers)
        except EmulatorAPIError as exc:
            await _send_error(send_marked, exc)
            return
        if parsed is not None:
            scope[JSON_BODY_SCOPE_KEY] = parsed
        replay = _replay(body, receive)
        app = self.mcp_app if path == MCP_PATH and self.mcp_app is not None else self.app
        if path != CHAT_PATH or not controls.rate_limiter.enabled or not isinstance(parsed, dict):
            await self._serve(app, scope, replay, send_marked)
            return
        await self._rate_limited(str(parsed.get("model", "")), app, scope, replay, send_marked)

    async def _serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, after any injected latency (which counts as time in flight)."""
        latency = self.runtime.controls.faults.take("latency", scope["path"])
        if latency is not None:
            await asyncio.sleep(latency.seconds)
        await app(scope, receive, send)

    async def _inject_fault(self, path: str, raw_send: Send, send: Send) -> bool:
        """Apply dropped-connection and status faults; True when the request is answered."""
        faults = self.runtime.controls.faults
        if faults.take("drop", path) is not None:
            await _drop(raw_send)
            return True
        status = faults.take("status", path)
        if status is not None:
            retry_after = max(1, int(status.seconds))  # an injected 429 says when to retry, as the real one does
            error = (
                rate_limited(f"Injected fault: HTTP 429, retry after {retry_after} s.", retry_after)
                if status.status == 429
                else server_error(status.status)
            )
            await _send_error(send, error)
            return True
        return False

    def _authenticate(self, path: str, headers: dict[bytes, bytes]) -> None:
        given = headers.get(b"authorization", b"").decode("latin-1")
        token = given[7:].strip() if given[:7].lower() == "bearer " else ""
        if path == MCP_PATH:
            expected = self.runtime.mcp_token()
            if not expected:
                raise unauthorized("The MCP endpoint is disabled: POST /v1/mcp/enable first.")
            if not hmac.compare_digest(token.encode(), expected.encode()):
                raise unauthorized("Invalid MCP token: use the token returned by POST /v1/mcp/enable.")
            return
        if not token or not hmac.compare_digest(token.encode(), self.runtime.api_key.encode()):
            raise unauthorized()

    async def _rate_limited(self, model: str, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        info = runtime.lookup_model(model)
        limits = info.limits_for(runtime.controls.tier) if info else None
        refused = runtime.controls.rate_limiter.acquire(model, limits, runtime.controls.clock.now())
        if refused is not None:
            await _send_error(send, rate_limited(*refused))
            return
        try:
            await self._serve(app, scope, receive, send)
        finally:
            runtime.controls.rate_limiter.release(model)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _parse_json(body: bytes, headers: dict[bytes, bytes]) -> Any:
    if not body or b"json" not in headers.get(b"content-type", b""):
        return None
    try:
        return loads(body)
    except ValueError:
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already-read body to the app once, then waits for disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(send: Send, error: EmulatorAPIError) -> None:
    headers = [
        (b"content-type", b"application/json"),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status_code or 500, "headers": headers})
    await send({"type": "http.response.body", "body": dumps(error.payload())})


async def _drop(raw_send: Send) -> None:
    """Close the client's socket without a response (uvicorn's send is a method of the cycle that
    owns the transport)."""
    cycle = getattr(raw_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:  # not served by uvicorn: the closest we can do is an empty 502
        await _send_error(raw_send, server_error(502))
        return
    transport.abort()
    await asyncio.sleep(0)  # let uvicorn notice the disconnect before it tries to answer
