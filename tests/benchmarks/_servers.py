"""The emulator in its own process (so its CPU and memory are not the client's), for benchmarks."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from typing import NamedTuple

import httpx

from kluster_agents.integrations.emulator.server import serve

API_KEY = "bench-key"


class RunningEmulator(NamedTuple):
    process: BaseProcess
    port: int
    base_url: str


@contextmanager
def emulator_process(port: int, startup_timeout: float = 60) -> Iterator[RunningEmulator]:
    """Start `serve` on `port` in a spawned process; yield it once it answers; stop it."""
    server = multiprocessing.get_context("spawn").Process(
        target=serve, kwargs={"port": port, "api_key": API_KEY}, daemon=True
    )
    server.start()
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                httpx.get(f"{base_url}/models", headers={"Authorization": f"Bearer {API_KEY}"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("emulator process did not start") from None
                time.sleep(0.1)
        yield RunningEmulator(server, port, base_url)
    finally:
        server.terminate()
        server.join(10)
