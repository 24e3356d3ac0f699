"""Emulator throughput: small non-streaming chat completions from several concurrent keep-alive
connections, a fixed number of requests; prints requests/s, p50 and p99 (target >= 500 req/s).
The server runs in its own process (as `kluster-agents emulate` does), so that client and
server do not share one GIL.

Run: uv run pytest -m benchmark tests/benchmarks/test_emulator_throughput.py -s
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ._servers import API_KEY, emulator_process

TOTAL_REQUESTS = 4000
CLIENTS = 16
BODY = {"model": "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo", "messages": [{"role": "user", "content": "ping"}]}


def _request_bytes(port: int, api_key: str) -> bytes:
    body = json.dumps(BODY).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One keep-alive HTTP/1.1 exchange; returns the status code. A minimal client on purpose:
    httpx costs more CPU per request than the server does, and both share 2 cores."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def _run(port: int, api_key: str) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = iter(range(TOTAL_REQUESTS))
    request = _request_bytes(port, api_key)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert await _post(reader, writer, request) == 200  # warm-up
            for _ in remaining:
                start = time.perf_counter()
                status = await _post(reader, writer, request)
                latencies.append(time.perf_counter() - start)
                assert status == 200
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return time.perf_counter() - began, latencies


def _cpu_seconds(pid: int) -> float | None:
    """User+system CPU time of a process (Linux /proc), to show the server's own cost per request
    even when other processes compete for the cores."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.benchmark
def test_emulator_chat_throughput(free_port: Callable[[], int]) -> None:
    with emulator_process(free_port()) as (server, port, _):
        cpu_before = _cpu_seconds(server.pid)
        elapsed, latencies = asyncio.run(_run(port, API_KEY))
        cpu_after = _cpu_seconds(server.pid)
    latencies.sort()
    rps = len(latencies) / elapsed
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"\nemulator chat completions: {len(latencies)} requests, {CLIENTS} concurrent clients: "
        f"{rps:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
        per_request = (cpu_after - cpu_before) / len(latencies) * 1000
        print(
            f"server CPU: {per_request:.2f} ms per request (= {1000 / per_request:.0f} req/s per core); "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    assert len(latencies) == TOTAL_REQUESTS
    assert rps >= 500, f"{rps:.0f} req/s is below the 500 req/s target"
