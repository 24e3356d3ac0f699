"""The emulator accepts a burst of connections in one go: libuv (under uvloop) accepts one connection per
turn of a busy event loop, which kept the last of 50 simultaneous clients waiting over a second."""

from __future__ import annotations

import asyncio
import socket
from contextlib import ExitStack

import httpx

from kluster_agents.integrations.emulator import Emulator
from kluster_agents.integrations.emulator._server.listener import _Listener

CLIENTS = 20


async def test_one_readiness_accepts_every_waiting_connection() -> None:
    loop = asyncio.get_running_loop()
    made: list[asyncio.Protocol] = []

    def protocol() -> asyncio.Protocol:
        made.append(asyncio.Protocol())
        return made[-1]

    with ExitStack() as stack:
        server = stack.enter_context(socket.create_server(("127.0.0.1", 0), backlog=64))
        server.setblocking(False)
        for _ in range(CLIENTS):  # the kernel completes each handshake; they wait in the accept queue
            stack.enter_context(socket.create_connection(server.getsockname()))
        listener = _Listener(loop, server, protocol, backlog=64)
        listener.close()  # no readiness callbacks: only the one call below accepts
        listener._accept()
        for _ in range(5):
            await asyncio.sleep(0)  # the transports are set up on the loop
    assert len(made) == CLIENTS


def test_the_emulator_serves_each_new_connection_and_stops_accepting_when_stopped() -> None:
    with Emulator(api_key="k") as emu:
        port = emu.port
        clients = [httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer k"}) for _ in range(CLIENTS)]
        try:
            statuses = [client.get("/models").status_code for client in clients]
        finally:
            for client in clients:
                client.close()
    assert statuses == [200] * CLIENTS
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
