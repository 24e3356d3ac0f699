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
        """One timer per connection, not one per request: a response only notes when the next request's
        headers are due, and the timer, when it fires early, waits out the rest (re-arming a timer per
        request cost ~5% of a small request's CPU at 50 busy clients)."""

        _deadline: asyncio.TimerHandle | None = None
        _waiting_for: object = None  # the cycle that was current when the headers' wait began
        _armed_at = 0.0

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
            self._waiting_for = self.cycle
            self._armed_at = self.loop.time()
            if self._deadline is None:
                self._deadline = self.loop.call_later(header_timeout, self._expire)

        def _expire(self) -> None:
            self._deadline = None
            left = self._armed_at + header_timeout - self.loop.time()
            cycle: RequestResponseCycle | None = self.cycle  # None until the first request's headers
            if cycle is self._waiting_for:  # no new request's headers since the wait began
                if left > 0:  # it began after this timer was set: wait out the rest
                    self._deadline = self.loop.call_later(left, self._expire)
                else:
                    self._close()
            elif cycle is not None and cycle.more_body:  # headers in, body still arriving: it gets `body_timeout` more
                self._deadline = self.loop.call_later(body_timeout, self._expire_body, cycle)

        def _expire_body(self, cycle: RequestResponseCycle) -> None:
            self._deadline = None
            if self.cycle is cycle and cycle.more_body:
                self._close()
            else:  # its body came in since: back to the headers' deadline
                self._expire()

        def _close(self) -> None:
            self.transport.close()  # a no-op on a transport already closing

    return HeaderDeadlineProtocol
