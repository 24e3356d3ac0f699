"""The emulator's edge: authentication before the body is read, a size cap that also holds for
chunked bodies (a clear 413), and MCP URLs built from the bound address, never the Host header."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kluster_agents.integrations.emulator.server import Emulator

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
