"""The emulator's edge: authentication before the body is read, a size cap that also holds for
chunked bodies (a clear 413), and MCP URLs built from the bound address, never the Host header."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import MODEL

pytestmark = pytest.mark.timeout(60)


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def test_unauthenticated_chunked_body_is_refused_without_being_read(kluster_emulator: Emulator) -> None:
    controls = kluster_emulator.controls
    controls.max_request_bytes = 1024 * 1024
    response = httpx.post(
        f"{kluster_emulator.base_url}/files",
        content=_chunks(50 * 1024 * 1024),  # chunked: no content-length to check up front
        headers={"authorization": "Bearer wrong", "content-type": "application/octet-stream"},
        timeout=30,
    )
    assert response.status_code == 401
    [record] = [r for r in controls.requests if r.path == "/v1/files"]
    assert record.body is None and record.status == 401


def test_authenticated_chunked_body_over_the_cap_gets_a_clear_413(kluster_emulator: Emulator) -> None:
    kluster_emulator.controls.max_request_bytes = 1024 * 1024
    response = httpx.post(
        f"{kluster_emulator.base_url}/chat/completions",
        content=_chunks(5 * 1024 * 1024),
        headers={"authorization": f"Bearer {kluster_emulator.api_key}", "content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]


def test_content_length_over_the_cap_is_413_after_auth(kluster_emulator: Emulator) -> None:
    kluster_emulator.controls.max_request_bytes = 1000
    headers = {"authorization": f"Bearer {kluster_emulator.api_key}", "content-type": "application/json"}
    response = httpx.post(
        f"{kluster_emulator.base_url}/chat/completions", content=b"{" + b" " * 5000 + b"}", headers=headers
    )
    assert response.status_code == 413 and "1000-byte limit" in response.json()["error"]["message"]
    unauthenticated = httpx.post(
        f"{kluster_emulator.base_url}/chat/completions",
        content=b" " * 5000,
        headers={"content-type": "application/json"},
    )
    assert unauthenticated.status_code == 401


def test_mcp_urls_never_reflect_the_host_header(kluster_emulator: Emulator) -> None:
    headers = {"authorization": f"Bearer {kluster_emulator.api_key}", "host": "evil.example:666"}
    enabled = httpx.post(f"{kluster_emulator.base_url}/mcp/enable", headers=headers).json()
    status = httpx.get(f"{kluster_emulator.base_url}/mcp/status", headers=headers).json()
    for url in (enabled["url"], status["url"]):
        assert "evil.example" not in url
        assert url == f"http://127.0.0.1:{kluster_emulator.port}/v1/mcp"


def _wait_for_eof(sock: socket.socket, limit: float = 30.0) -> bytes:
    """Read until the server closes the connection, or give up after `limit` seconds (returns b"?")."""
    sock.settimeout(limit)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return b"?"
    except ConnectionResetError:
        pass
    return received


@pytest.mark.parametrize("partial", [b"POST /v1/chat/comp", b"GET /v1/models HTTP/1.1\r\nHost: x\r\n"])
def test_a_client_trickling_headers_is_disconnected(partial: bytes) -> None:
    with Emulator(header_timeout=1) as emulator, socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        sock.sendall(partial)
        assert _wait_for_eof(sock) != b"?"


def test_a_second_request_left_half_sent_is_disconnected() -> None:
    with Emulator(header_timeout=1) as emulator, socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer emulator\r\n\r\nGET /v1/mod")
        assert b"200 OK" in _wait_for_eof(sock)


def test_a_connection_in_use_is_kept_and_one_left_idle_is_closed() -> None:
    """The header deadline counts from the last response: requests 0.3 s apart keep a connection with a
    0.5 s deadline open for 2 s; left idle after that, it is closed within the deadline."""
    with Emulator(header_timeout=0.5) as emulator:
        conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
        headers = {"Authorization": f"Bearer {emulator.api_key}"}
        conn.request("GET", "/v1/models", headers=headers)
        assert conn.getresponse().read()
        sock = conn.sock
        assert sock is not None
        for _ in range(6):
            time.sleep(0.3)
            conn.request("GET", "/v1/models", headers=headers)
            assert conn.getresponse().read() and conn.sock is sock  # the same connection, still open
        started = time.monotonic()
        assert _wait_for_eof(sock, limit=5) == b""
        assert time.monotonic() - started < 1.5


def test_a_body_trickling_after_complete_headers_is_disconnected() -> None:
    with (
        Emulator(header_timeout=0.5, body_timeout=0.5) as emulator,
        socket.create_connection(("127.0.0.1", emulator.port)) as sock,
    ):
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {emulator.api_key}\r\nContent-Length: 1000\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"model": ')
        started = time.monotonic()
        assert b"200 OK" not in _wait_for_eof(sock)
        assert time.monotonic() - started < 5  # header + body deadlines, not the client's patience


def test_a_slow_but_complete_request_is_still_answered(kluster_emulator: Emulator) -> None:
    with socket.create_connection(("127.0.0.1", kluster_emulator.port)) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")
        sock.sendall(f"Authorization: Bearer {kluster_emulator.api_key}\r\n\r\n".encode())
        assert b"200 OK" in _wait_for_eof(sock)


# -- what an OpenAI-compatible server refuses, the emulator refuses (strict mode) -------------------
def _post(emulator: Emulator, path: str, body: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {emulator.api_key}"}
    return httpx.post(f"{emulator.base_url}{path}", json=body, headers=headers, timeout=30)


_WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
_CALL = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
MALFORMED_CHAT: dict[str, tuple[dict[str, object], str]] = {
    "tool without function": ({"tools": [{"type": "function"}]}, "tools[0].function"),
    "parameters not an object": (
        {"tools": [{"type": "function", "function": {"name": "w", "parameters": "notadict"}}]},
        "tools[0].function.parameters",
    ),
    "schema type objectt": (
        {"tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "objectt"}}}]},
        "tools[0].function.parameters",
    ),
    "name with spaces": (
        {"tools": [{"type": "function", "function": {"name": "get weather", "parameters": {}}}]},
        "tools[0].function.name",
    ),
    "tools not a list": ({"tools": _WEATHER}, "tools"),
    "tool message without tool_call_id": (
        {"messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "sunny"}]},
        "messages[1].tool_call_id",
    ),
    "content a dict": ({"messages": [{"role": "user", "content": {"text": "hi"}}]}, "messages[0].content"),
    "content an int": ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
    "part not an object": ({"messages": [{"role": "user", "content": ["hi"]}]}, "messages[0].content[0]"),
}


@pytest.mark.parametrize("case", list(MALFORMED_CHAT))
def test_malformed_chat_requests_get_a_400(kluster_emulator: Emulator, case: str) -> None:
    extra, param = MALFORMED_CHAT[case]
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **extra}
    response = _post(kluster_emulator, "/chat/completions", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_well_formed_tools_and_tool_messages_still_pass(kluster_emulator: Emulator) -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        {"role": "assistant", "content": None, "tool_calls": [_CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    response = _post(kluster_emulator, "/chat/completions", {"model": MODEL, "messages": messages, "tools": [_WEATHER]})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/verify/reliability", "/batches", "/uploads", "/embeddings", "/fine_tuning/jobs"])
@pytest.mark.parametrize("body", [[1, 2], 3, "text"])
def test_a_body_that_is_not_an_object_gets_a_400(kluster_emulator: Emulator, path: str, body: object) -> None:
    response = _post(kluster_emulator, path, body)
    assert response.status_code == 400 and "JSON object" in response.json()["error"]["message"]


@pytest.mark.parametrize("size", [10**15, -5, 0, "12", 1.5, True])
def test_an_upload_of_an_impossible_size_gets_a_400(kluster_emulator: Emulator, size: object) -> None:
    body = {"filename": "in.jsonl", "purpose": "batch", "bytes": size, "mime_type": "text/jsonl"}
    response = _post(kluster_emulator, "/uploads", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "bytes"
    assert _post(kluster_emulator, "/uploads", {**body, "bytes": 1024}).status_code == 200
