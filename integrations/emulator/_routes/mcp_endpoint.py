"""The emulator's MCP endpoint (`/v1/mcp`: the Verify tools over streamable HTTP), built on its first
request: the MCP SDK is a large import that most emulator sessions never use, so `kluster-agents
emulate` and the test fixture answer sooner without it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
VerifyFunction = Callable[[str, str, str | None, bool], Awaitable[dict[str, Any]]]


class LazyMCPEndpoint:
    """An ASGI app that builds the MCP server and runs its session manager on the first request, in a
    task of its own (the manager's task group must be entered and left by one task); `aclose()` stops it."""

    def __init__(self, verify: VerifyFunction) -> None:
        self._verify = verify
        self._handle: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._handle is None:
            await self._start()
        assert self._handle is not None
        await self._handle(scope, receive, send)

    async def _start(self) -> None:
        async with self._lock:
            if self._handle is not None:
                return
            from kluster_agents.integrations.mcp._tools import build_verify_mcp_server

            server = build_verify_mcp_server(self._verify, name="kluster-verify (EMULATED)")
            server.streamable_http_app()  # creates the session manager
            manager = server.session_manager
            ready, self._stop = asyncio.Event(), asyncio.Event()

            async def run() -> None:
                async with manager.run():
                    ready.set()
                    await self._stop.wait()

            self._task = asyncio.create_task(run(), name="kluster-emulator-mcp")
            waiting = asyncio.ensure_future(ready.wait())
            await asyncio.wait({self._task, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if not ready.is_set():
                waiting.cancel()
                self._task.result()  # raises what stopped the session manager
            self._handle = manager.handle_request

    async def aclose(self) -> None:
        """Stop the session manager (when it was started); a later request starts a new one."""
        task, self._task, self._handle = self._task, None, None
        if task is not None:
            self._stop.set()
            await task
