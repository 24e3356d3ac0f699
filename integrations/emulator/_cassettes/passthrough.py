"""The cassette layer of the emulator: an ASGI catch-all in front of the routes that, while a
cassette is loaded (`Emulator.record_cassette` / `Emulator.play_cassette`, or the pytest marker),
either forwards every request upstream and records it (pass-through mode), or answers every
request from the cassette (replay mode). With no cassette loaded it is transparent.

Pass-through: the request goes to the upstream base URL (the real API by default) with the
upstream key in place of the emulator's (other headers pass through, minus hop-by-hop ones); the
answer is streamed back as it arrives, SSE chunks included, and stored in the cassette with
secrets redacted (see `cassette.py`). The gateway in front still logs the request, checks the
emulator's own key and applies injected faults, so tests see the same `controls` either way.

Replay: an unmatched request is answered HTTP 412 with the cassette's diff in the OpenAI-style
error message (a status no client retries or treats as "not found"), and the mismatch is kept so
the pytest plugin fails the test even when the code under test swallowed the error.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from kluster_agents.integrations._api.errors import redact
from kluster_agents.integrations.emulator._cassettes.cassette import (
    KEPT_RESPONSE_HEADERS,
    CassetteMismatch,
    CassettePlayer,
    CassetteRecorder,
    decode_body,
    encode_body,
    parse_sse,
    sse_bytes,
)
from kluster_agents.integrations.emulator._json import dumps
from kluster_agents.integrations.emulator._server.http_errors import error_body
from kluster_agents.integrations.emulator._server.runtime import EmulatorRuntime
from kluster_agents.integrations.emulator._server.web import JSON_BODY_SCOPE_KEY

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MISMATCH_STATUS = 412
_NOT_FORWARDED = frozenset(
    {"host", "authorization", "content-length", "accept-encoding", "connection", "cookie", "transfer-encoding"}
)
_NOT_RETURNED = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive", "x-kluster-emulator"}
)
_UPSTREAM_TIMEOUT = 600.0  # long completions and big file downloads
_CONNECT_TIMEOUT = 15.0


class CassetteLayer:
    """See the module docstring; `runtime.cassette` selects the mode."""

    def __init__(self, app: ASGIApp, runtime: EmulatorRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cassette = self.runtime.cassette
        if scope["type"] != "http" or cassette is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        request = await _describe_request(scope, body)
        if isinstance(cassette, CassetteRecorder):
            await _forward(cassette, scope, body, request, send)
        elif isinstance(cassette, CassettePlayer):
            await _play(cassette, request, send)
        else:  # pragma: no cover - only the two session types exist
            await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _describe_request(scope: Scope, body: bytes) -> dict[str, Any]:
    """method, path, query and a readable body (JSON, a multipart form, or text)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    content_type = headers.get("content-type", "")
    parsed: Any = None
    if JSON_BODY_SCOPE_KEY in scope:
        parsed = scope[JSON_BODY_SCOPE_KEY]
    elif content_type.startswith("multipart/form-data"):
        parsed = {"multipart": await _form(scope, body)}
    elif body:
        parsed = encode_body(body, content_type)
        parsed = parsed.get("json", parsed)
    return {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope.get("query_string", b"").decode("latin-1"),
        "body": parsed,
    }


async def _form(scope: Scope, body: bytes) -> dict[str, Any]:
    from starlette.datastructures import UploadFile
    from starlette.requests import Request

    sent = False

    async def once() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(scope, once).form()
    result: dict[str, Any] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            content = await value.read()
            result[name] = {"filename": value.filename, **_file_content(content)}
        else:
            result[name] = value
    await form.close()
    return result


def _file_content(content: bytes) -> dict[str, Any]:
    try:
        return {"content": content.decode("utf-8")}
    except UnicodeDecodeError:
        import base64

        return {"content_base64": base64.b64encode(content).decode("ascii")}


def _kept_headers(headers: Any) -> dict[str, str]:
    return {name: headers[name] for name in KEPT_RESPONSE_HEADERS if name in headers}


async def _forward(recorder: CassetteRecorder, scope: Scope, body: bytes, request: dict[str, Any], send: Send) -> None:
    import httpx

    url = recorder.upstream_url + scope["path"].removeprefix("/v1")
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        url += "?" + query
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in scope["headers"]
        if k.decode("latin-1").lower() not in _NOT_FORWARDED
    ]
    if recorder.upstream_key:
        headers.append(("authorization", f"Bearer {recorder.upstream_key}"))
    timeout = httpx.Timeout(_UPSTREAM_TIMEOUT, connect=_CONNECT_TIMEOUT)
    recorder.begin()
    recorded = False
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            try:
                response = await client.send(
                    client.build_request(scope["method"], url, headers=headers, content=body), stream=True
                )
            except httpx.HTTPError as exc:
                message = (
                    f"kluster cassette recording: the upstream {recorder.upstream_url} could not be reached ({exc!r})."
                )
                await _send_json(send, 502, error_body(message, code="upstream_unreachable"))
                return
            try:
                recorded = await _relay(recorder, request, response, send)
            finally:
                await response.aclose()
    finally:
        if not recorded:
            recorder.abandon()


async def _relay(recorder: CassetteRecorder, request: dict[str, Any], response: Any, send: Send) -> bool:
    """Stream the upstream answer to the client and record it (before the last, empty body message)."""
    out_headers = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers.multi_items()
        if k.lower() not in _NOT_RETURNED
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": out_headers})
    content_type = response.headers.get("content-type", "")
    recorded: dict[str, Any] = {"status": response.status_code, "headers": _kept_headers(response.headers)}
    from_emulator = response.headers.get("x-kluster-emulator", "").lower() == "true"
    if "text/event-stream" in content_type:
        chunks = []
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            await send({"type": "http.response.body", "body": _scrubbed(chunk, recorder), "more_body": True})
        recorded["stream"] = parse_sse(b"".join(chunks).decode("utf-8", errors="replace"))
        recorder.add(request, recorded, from_emulator=from_emulator)
        await send({"type": "http.response.body", "body": b""})
        return True
    content = await response.aread()
    recorded.update(encode_body(content, content_type))
    recorder.add(request, recorded, from_emulator=from_emulator)
    if response.status_code >= 400:  # an error body is text: scrub bearer/api-key looking values too
        content = redact(content.decode("utf-8", "replace")).encode()
    await send({"type": "http.response.body", "body": _scrubbed(content, recorder)})
    return True


def _scrubbed(content: bytes, recorder: CassetteRecorder) -> bytes:
    """`content` without the upstream key: a server that echoes it (a 401 quoting the Authorization
    header) must not hand the real key to the emulator's client, which only knows the emulator's."""
    key = recorder.upstream_key
    if not key:
        return content
    # as `errors.redact`: a short key only where it stands alone, so words containing it survive
    return re.sub(rb"(?<![A-Za-z0-9_\-])" + re.escape(key.encode()) + rb"(?![A-Za-z0-9_\-])", b"***", content)


async def _play(player: CassettePlayer, request: dict[str, Any], send: Send) -> None:
    try:
        response = player.match(request["method"], request["path"], request["query"], request["body"])
    except CassetteMismatch as exc:
        await _send_json(
            send, MISMATCH_STATUS, error_body(str(exc), type="kluster_cassette_mismatch", code="cassette_mismatch")
        )
        return
    headers = [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in (response.get("headers") or {}).items()]
    status = int(response.get("status", 200))
    if "stream" in response:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for event in response["stream"]:
            await send({"type": "http.response.body", "body": sse_bytes(event), "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": decode_body(response)})


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": dumps(payload)})
