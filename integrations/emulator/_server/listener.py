"""uvicorn's server, accepting every waiting connection each time the listening socket is readable.

libuv (under uvloop) accepts one connection per turn of the event loop. While 50 busy connections
make a turn last tens of milliseconds, clients that connect at once wait in the kernel's accept
queue for up to a second (measured: the 50th connection of a burst accepted 1.1-1.6 s after the
first), and those first requests are the slowest 1% of a run. Here the emulator accepts the whole
queue in one callback, as asyncio's own loop does, and hands each socket to the loop as uvicorn would.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

import uvicorn

_RETRY_AFTER_OUT_OF_FILES = 1.0  # seconds without accepting once the process runs out of descriptors
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
logger = logging.getLogger("uvicorn.error")


class BurstAcceptServer(uvicorn.Server):
    """A `uvicorn.Server` whose listening sockets are accepted from by `_Listener`s (see the module docstring)."""

    _listeners: list[_Listener]

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._listeners = []
        if sockets is None:  # uvicorn binds from its config: its own listener
            await super().startup()
            return
        await super().startup(sockets=[])  # the lifespan and server state, with no listener of uvicorn's
        loop = asyncio.get_running_loop()
        config, state, app_state = self.config, self.server_state, self.lifespan.state

        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=state, app_state=app_state, _loop=loop
            )
            return made

        for sock in sockets:
            try:
                self._listeners.append(_Listener(loop, sock, protocol, config.backlog))
            except NotImplementedError:  # a loop that cannot watch a socket (Windows' proactor): uvicorn's way
                self.servers.append(await loop.create_server(protocol, sock=sock, backlog=config.backlog))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in getattr(self, "_listeners", ()):  # none when never started
            listener.close()
        await super().shutdown(sockets)


class _Listener:
    """Accepts up to `backlog` waiting connections per readiness of `sock` (non-blocking, listening)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: Callable[[], asyncio.Protocol],
        backlog: int,
    ) -> None:
        self._loop, self._sock, self._protocol, self._backlog = loop, sock, protocol, backlog
        self._connecting: set[asyncio.Task[None]] = set()
        self._closed = False
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(self._backlog):  # bounded, so that a flood cannot starve the connections being served
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                logger.error("Cannot accept a connection (%s); pausing for %s s", exc, _RETRY_AFTER_OUT_OF_FILES)
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(_RETRY_AFTER_OUT_OF_FILES, self._resume)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._connect(conn))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol, conn)
        except OSError:  # the client left before the transport was set up
            conn.close()

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting (the socket itself is closed by its owner)."""
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self._sock.fileno())
