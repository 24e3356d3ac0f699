"""A deadline for a request's headers, which uvicorn lacks.

uvicorn bounds only the idle time after a response (`timeout_keep_alive`); a client that opens a
connection and trickles a request line, or starts a second request and stops, holds the
connection forever. Here each connection must complete a request's headers within
`header_timeout` seconds of opening, or of the previous response, and its body within
`body_timeout` seconds more; otherwise it is closed (the route awaiting the body sees a
disconnect). A response that takes long to compute is not cut: the deadlines end with the body.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0


def header_deadline_protocol(
    header_timeout: float = DEFAULT_HEADER_TIMEOUT, body_timeout: float = DEFAULT_BODY_TIMEOUT
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools or h11, as uvicorn would pick) with header and body deadlines."""
    # uvicorn picks httptools or h11 at import and types the choice as a bare `asyncio.Protocol`; the
    # checker reads h11's class instead, whose connection hooks and `cycle`/`loop`/`transport` httptools shares.
    if TYPE_CHECKING:
        from uvicorn.protocols.http.h11_impl import H11Protocol as UvicornHTTPProtocol
        from uvicorn.protocols.http.h11_impl import RequestResponseCycle
    else:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol as UvicornHTTPProtocol

    class HeaderDeadlineProtocol(UvicornHTTPProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            # asyncio's hook takes any transport; a TCP server's is always a stream `Transport`
            super().connection_made(cast(asyncio.Transport, transport))
            self._arm()

        def on_response_complete(self) -> None:
            self._arm()  # before the parent parses a pipelined request, which would start a new cycle
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            waiting_for = self.cycle
            self._deadline = self.loop.call_later(header_timeout, self._expire, waiting_for)

        def _expire(self, waiting_for: object) -> None:
            self._deadline = None
            cycle: RequestResponseCycle | None = self.cycle  # None until the first request's headers
            if cycle is waiting_for:
                self._close()  # no new request's headers since the deadline was armed
            elif cycle is not None and cycle.more_body:  # headers in, body still arriving: it gets `body_timeout` more
                self._deadline = self.loop.call_later(body_timeout, self._expire_body, cycle)

        def _expire_body(self, cycle: RequestResponseCycle) -> None:
            self._deadline = None
            if self.cycle is cycle and cycle.more_body:
                self._close()

        def _close(self) -> None:
            if not self.transport.is_closing():
                self.transport.close()

    return HeaderDeadlineProtocol
