"""The outermost ASGI layer: everything that happens before a route runs, in the order the
real service's edge would do it — request log, injected faults, body-size limit, authentication,
the empty-JSON-body check, rate limits — and the `x-kluster-emulator: true` header on every response.

Empty JSON bodies: the live service answered a POST with `Content-Type: application/json` and a
0-byte body (what the openai SDK sends for `batches.cancel`, `fine_tuning.jobs.cancel`,
`uploads.cancel`) with HTTP 500 `{"message": "Unknown error occurred: Body cannot be empty when
content-type is set to 'application/json'", "errorCode": -1}` (observed; not in the docs, so
`lenient` mode accepts it).

It wraps the FastAPI app directly (not as Starlette middleware) so that it holds uvicorn's own
`send`, which is what lets it drop a connection without answering.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from kluster_agents.integrations.emulator._inspector.request_log import observe_request, observe_response
from kluster_agents.integrations.emulator._json import dumps, loads
from kluster_agents.integrations.emulator._server.http_errors import (
    EmulatorAPIError,
    observed_error,
    rate_limited,
    server_error,
    unauthorized,
)
from kluster_agents.integrations.emulator._server.runtime import EmulatorRuntime
from kluster_agents.integrations.emulator._server.web import JSON_BODY_SCOPE_KEY

if TYPE_CHECKING:
    from kluster_agents.integrations.emulator._inspector.request_log import RequestRecord

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

EMULATOR_HEADER = (b"x-kluster-emulator", b"true")
EMPTY_JSON_BODY_ERROR = {
    "message": "Unknown error occurred: Body cannot be empty when content-type is set to 'application/json'",
    "errorCode": -1,
}
MCP_PATH = "/v1/mcp"
CHAT_PATH = "/v1/chat/completions"
INSPECTOR_PATH = "/inspector"  # the inspector page: its own token, not logged, no faults


class Gateway:
    """See the module docstring. `mcp_app` serves the MCP endpoint (authenticated by MCP token)."""

    def __init__(self, app: ASGIApp, runtime: EmulatorRuntime, mcp_app: ASGIApp | None = None) -> None:
        self.app = app
        self.runtime = runtime
        self.mcp_app = mcp_app
        self.on_response: Callable[[RequestRecord, float], None] | None = None
        """Called with each answered request and its milliseconds (`kluster-agents emulate` logs them)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(INSPECTOR_PATH):
            await self.app(scope, receive, send)
            return
        controls = self.runtime.controls
        raw_send, path = send, scope["path"]
        headers = dict(scope["headers"])

        record = controls.record(scope["method"], path, scope.get("query_string", b"").decode())
        log = controls.request_log
        started = time.perf_counter()

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                message["headers"] = [*message.get("headers", []), EMULATOR_HEADER]
            observe_response(log, record, message)
            await raw_send(message)
            if (
                self.on_response is not None
                and message["type"] == "http.response.body"
                and not message.get("more_body")
            ):
                self.on_response(record, (time.perf_counter() - started) * 1000)

        send_marked: Send = marked

        # Authenticate from the headers alone, before a byte of the body is read (an unauthenticated
        # client cannot make the server buffer anything), then read the body under the size cap.
        try:
            self._authenticate(path, headers)
        except EmulatorAPIError as exc:
            await _send_error(send_marked, exc)
            return
        try:
            length = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            length = 0
        if length > controls.max_request_bytes:
            await _send_error(send_marked, _too_large(length, controls.max_request_bytes))
            return
        body = await _read_body(receive, controls.max_request_bytes)
        if body is None:
            await _send_error(send_marked, _too_large(None, controls.max_request_bytes))
            return
        if _empty_json_post(scope["method"], body, headers) and controls.mode != "lenient":
            await _send_error(send_marked, observed_error(500, EMPTY_JSON_BODY_ERROR))
            return
        parsed = _parse_json(body, headers)
        if parsed is not None:
            log.charge_request(record, body)
        observe_request(record, headers)

        if await self._inject_fault(path, raw_send, send_marked):
            return
        reset = controls.faults.take("reset", path)
        if reset is not None:
            send_marked = _resetting(send_marked, raw_send, reset.after_chunks)
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
        if faults.take("malformed", path) is not None:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": b'{"id": "chatcmpl-malformed", "choices": [{"ind'})
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


def _empty_json_post(method: str, body: bytes, headers: dict[bytes, bytes]) -> bool:
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return method in ("POST", "PUT", "PATCH") and not body and content_type == b"application/json"


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None as soon as it grows past `limit` bytes (chunked uploads included)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _too_large(length: int | None, limit: int) -> EmulatorAPIError:
    size = f"{length} bytes" if length is not None else "more bytes"
    return EmulatorAPIError(
        413,
        f"Request body of {size} is over the {limit}-byte limit: split the input (files: 100 MB per upload).",
        code="request_too_large",
    )


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


def _resetting(send: Send, raw_send: Send, after_chunks: int) -> Send:
    """A `send` that passes `after_chunks` body messages, half of the next one, then aborts the socket."""
    sent = 0
    aborted = False

    async def resetting(message: Message) -> None:
        nonlocal sent, aborted
        if aborted:
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        if sent < after_chunks:
            sent += 1
            await send(message)
            return
        body = message.get("body", b"")
        aborted = True
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        await _drop(raw_send)

    return resetting


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
