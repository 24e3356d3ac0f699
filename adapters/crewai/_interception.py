"""CrewAI's `interceptor=` on our clients: every request and response of a `KlusterCompletion`
passes through the user's `BaseInterceptor`, as on CrewAI's own OpenAI LLM.

CrewAI puts the interceptor into a fresh httpx transport; ours cannot, since the LLM's requests go
over the shared (rate-limited, proxy-aware) client. These clients wrap that client instead: they
hand each request to the interceptor, send what it returns on the wrapped client and hand the
response back to it (`aon_outbound`/`aon_inbound` on the async path, as CrewAI calls them).
"""

from __future__ import annotations

from typing import Any

import httpx
from crewai.llms.hooks.base import BaseInterceptor

Interceptor = BaseInterceptor[httpx.Request, httpx.Response]


class _NoTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Never used: `send` goes to the wrapped client (avoids building a pool and SSL context)."""


class InterceptedClient(httpx.Client):
    """A sync client whose `send` runs the interceptor around the wrapped client's `send`."""

    def __init__(self, inner: httpx.Client, interceptor: Interceptor) -> None:
        super().__init__(transport=_NoTransport(), trust_env=False)
        self.inner = inner
        self.interceptor = interceptor

    def build_request(self, *args: Any, **kwargs: Any) -> httpx.Request:
        return self.inner.build_request(*args, **kwargs)

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = self.inner.send(self.interceptor.on_outbound(request), **kwargs)
        return self.interceptor.on_inbound(response)

    def close(self) -> None:
        self.inner.close()  # a shared client ignores it; a client the user handed over closes


class AsyncInterceptedClient(httpx.AsyncClient):
    """The async twin of `InterceptedClient`."""

    def __init__(self, inner: httpx.AsyncClient, interceptor: Interceptor) -> None:
        super().__init__(transport=_NoTransport(), trust_env=False)
        self.inner = inner
        self.interceptor = interceptor

    def build_request(self, *args: Any, **kwargs: Any) -> httpx.Request:
        return self.inner.build_request(*args, **kwargs)

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = await self.inner.send(await self.interceptor.aon_outbound(request), **kwargs)
        return await self.interceptor.aon_inbound(response)

    async def aclose(self) -> None:
        await self.inner.aclose()
