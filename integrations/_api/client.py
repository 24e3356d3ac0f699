"""The single place every adapter, engine and CLI command gets its openai client from.

Clients share one httpx client per rate-limit scope and process, sync and async alike: building a
client (or a `ChatKluster`, a CrewAI `LLM`...) allocates no connection pool and no SSL context. The
pools are made on first use: one per process (sync) and one per event loop (async, a pool cannot
cross loops), all on one SSL context; the sync pools close at interpreter exit and the async pool
of a loop is dropped once that loop is closed. Clients carry `User-Agent: kluster-agents/<version>`
and use the SDK's own retries. Real-time requests on the shared clients wait for their model's tier
limits (`api.limits`), shared across the process; a client given its own `http_client` is not limited.
"""

from __future__ import annotations

import asyncio
import atexit
import ssl
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import httpx
import openai
from httpx._utils import get_environment_proxies  # the env proxy map httpx itself builds (HTTP(S)_PROXY, NO_PROXY)

from kluster_agents.integrations._api.errors import KlusterError, from_openai_error, scrub_exception
from kluster_agents.integrations._api.limited_client import AsyncRateLimitedClient, RateLimitedClient
from kluster_agents.integrations._api.limiter_registry import LimitScope, scope_of
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._version import PROCESS_PRODUCTS, USER_AGENT

if TYPE_CHECKING:
    from kluster_agents.integrations._api.kluster_openai import AsyncKlusterOpenAI, KlusterOpenAI

_POOL_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)

_lock = threading.Lock()
_ssl: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """One SSL context for every pool: loading the CA bundle costs ~40 ms, each time."""
    global _ssl
    if _ssl is None:
        with _lock:
            if _ssl is None:
                _ssl = httpx.create_ssl_context()
    return _ssl


class _LazyTransport(httpx.BaseTransport):
    """A sync `HTTPTransport` (a connection pool) made on the first request, not when the client is."""

    def __init__(self, proxy: str | None = None) -> None:
        self._proxy = proxy
        self._pool: httpx.HTTPTransport | None = None
        self._pool_lock = threading.Lock()

    @property
    def pool(self) -> httpx.HTTPTransport | None:
        """The connection pool, None until the first request."""
        return self._pool

    def _get(self) -> httpx.HTTPTransport:
        pool = self._pool
        if pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = httpx.HTTPTransport(verify=_ssl_context(), limits=_POOL_LIMITS, proxy=self._proxy)
                pool = self._pool
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._get().handle_request(request)

    def close(self) -> None:
        """Close the pool's connections; the next request opens new ones."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


class _PerLoopTransport(httpx.AsyncBaseTransport):
    """Dispatches each request to its event loop's `AsyncHTTPTransport`, made on the loop's first
    request: one process-wide async client serves every loop, and no pool crosses loops."""

    def __init__(self, proxy: str | None = None) -> None:
        self._proxy = proxy
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncHTTPTransport] = (
            weakref.WeakKeyDictionary()
        )
        self._pools_lock = threading.Lock()

    def pool(self, loop: asyncio.AbstractEventLoop | None = None) -> httpx.AsyncHTTPTransport | None:
        """The pool of `loop` (default: the running one), None before its first request."""
        return self._pools.get(loop or asyncio.get_running_loop())

    @property
    def pool_count(self) -> int:
        """Pools held (one per event loop that sent a request and is not closed yet)."""
        return len(self._pools)

    def _get(self) -> httpx.AsyncHTTPTransport:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            with self._pools_lock:
                # A pool's connections refer to their loop, so an entry never leaves the weak dict by
                # itself: drop the pools of closed loops (their sockets go with them).
                for old in [old for old in self._pools if old.is_closed()]:
                    del self._pools[old]
                pool = self._pools.get(loop)
                if pool is None:
                    pool = httpx.AsyncHTTPTransport(verify=_ssl_context(), limits=_POOL_LIMITS, proxy=self._proxy)
                    self._pools[loop] = pool
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._get().handle_async_request(request)


_T = TypeVar("_T", bound=httpx.BaseTransport | httpx.AsyncBaseTransport)


def _mounts(transport: Callable[[str | None], _T]) -> dict[str, _T | None]:
    """The environment's proxy routes (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY), each on its own lazy
    transport, as httpx builds them for a client without a custom transport."""
    return {key: None if url is None else transport(url) for key, url in get_environment_proxies().items()}


def _routes(transport: Callable[[str | None], _T]) -> tuple[list[_T], dict[str, Any]]:
    """Every transport of a shared client (direct first, then one per proxy route) and the client's
    `transport=`/`mounts=` arguments."""
    direct = transport(None)
    proxied = _mounts(transport)
    return [direct, *(t for t in proxied.values() if t is not None)], {"transport": direct, "mounts": proxied}


class _KeepOpen(httpx.Client):
    """A process-wide sync client is shared by every openai client we make, so `close()` (an SDK
    client's `close()` or `with`) leaves it alone: another model may be mid-request on it. Its
    connections close at interpreter exit (`_close_sync_pools`)."""

    _routes: list[_LazyTransport]

    def close(self) -> None:
        pass

    def drop_connections(self) -> None:
        """Close every pooled connection; the next request opens new ones."""
        for transport in self._routes:
            transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.close()


class _KeepOpenAsync(httpx.AsyncClient):
    """The async twin of `_KeepOpen`: `aclose()` leaves the shared client and its pools alone."""

    _routes: list[_PerLoopTransport]

    @property
    def transport(self) -> _PerLoopTransport:
        """The dispatcher to each loop's pool for direct routes (proxied routes have their own)."""
        return self._routes[0]

    async def aclose(self) -> None:
        pass  # shared by every model in the loop (see `_KeepOpen`); pools go with their loops

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()


class _SharedClient(_KeepOpen):
    """The process-wide sync client when client-side rate limiting is off."""

    def __init__(self) -> None:
        self._routes, routes = _routes(_LazyTransport)
        super().__init__(**routes, follow_redirects=True)


class _SharedLimitedClient(_KeepOpen, RateLimitedClient):
    """The process-wide sync client of one rate-limit scope."""

    def __init__(self, scope: LimitScope) -> None:
        self._routes, routes = _routes(_LazyTransport)
        super().__init__(scope, **routes, follow_redirects=True)


class _SharedAsyncClient(_KeepOpenAsync):
    """The process-wide async client when client-side rate limiting is off."""

    def __init__(self) -> None:
        self._routes, routes = _routes(_PerLoopTransport)
        super().__init__(**routes, follow_redirects=True)


class _SharedLimitedAsyncClient(_KeepOpenAsync, AsyncRateLimitedClient):
    """The process-wide async client of one rate-limit scope."""

    def __init__(self, scope: LimitScope) -> None:
        self._routes, routes = _routes(_PerLoopTransport)
        super().__init__(scope, **routes, follow_redirects=True)


_sync_clients: dict[LimitScope | None, _KeepOpen] = {}
_async_clients: dict[LimitScope | None, _KeepOpenAsync] = {}


def default_headers(user_agent: str | None = None) -> dict[str, str]:
    """`User-Agent: kluster-agents/<version>` plus the process's products and `user_agent` (the
    framework's own product, e.g. "langchain-core/1.7.0", which the inspector page reads)."""
    return {"User-Agent": " ".join([USER_AGENT, *PROCESS_PRODUCTS, *([user_agent] if user_agent else [])])}


def _timeout(settings: KlusterSettings) -> httpx.Timeout:
    return httpx.Timeout(settings.timeout, connect=settings.connect_timeout)


def shared_http_client(settings: KlusterSettings | None = None) -> httpx.Client:
    """The process-wide sync client for the settings' rate-limit scope (timeouts are set per client by
    the SDK): real-time requests wait for their model's tier limits unless `client_rate_limit` is off."""
    scope = scope_of(resolve_settings(settings))
    client = _sync_clients.get(scope)
    if client is None:
        with _lock:
            client = _sync_clients.get(scope)
            if client is None:
                client = _sync_clients[scope] = _SharedClient() if scope is None else _SharedLimitedClient(scope)
    return client


def shared_async_http_client(settings: KlusterSettings | None = None) -> httpx.AsyncClient:
    """The process-wide async client for the settings' rate-limit scope, usable from any event loop
    (each loop gets its own pool on its first request); rate limits are shared with the sync client."""
    scope = scope_of(resolve_settings(settings))
    client = _async_clients.get(scope)
    if client is None:
        with _lock:
            client = _async_clients.get(scope)
            if client is None:
                client = _async_clients[scope] = (
                    _SharedAsyncClient() if scope is None else _SharedLimitedAsyncClient(scope)
                )
    return client


@atexit.register
def _close_sync_pools() -> None:
    """Close the sync pools' connections at exit (async pools live and die with their loops)."""
    for client in list(_sync_clients.values()):
        client.drop_connections()


def client_kwargs(
    settings: KlusterSettings | None = None, *, user_agent: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """Constructor arguments for any OpenAI-compatible client aimed at kluster (key required);
    `user_agent` is a product appended to ours (the calling framework's, e.g. "litellm/1.105.0")."""
    settings = resolve_settings(settings, **overrides)
    return {
        "api_key": settings.require_api_key(),
        "base_url": settings.base_url,
        "max_retries": settings.max_retries,
        "timeout": _timeout(settings),
        "default_headers": default_headers(user_agent),
    }


def _caller_defaults(overrides: dict[str, Any], user_agent: str | None) -> dict[str, Any]:
    """Client arguments for the caller's `default_headers`/`default_query`, taken out of `overrides`
    (they are not settings); a header the caller names replaces ours."""
    headers: Mapping[str, str] | None = overrides.pop("default_headers", None)
    query: Mapping[str, object] | None = overrides.pop("default_query", None)
    added: dict[str, Any] = {}
    if headers:
        added["default_headers"] = {**default_headers(user_agent), **headers}
    if query:
        added["default_query"] = dict(query)
    return added


def make_client(
    settings: KlusterSettings | None = None,
    *,
    http_client: httpx.Client | None = None,
    user_agent: str | None = None,
    **overrides: Any,
) -> KlusterOpenAI:
    """A configured `openai.OpenAI` for kluster.ai whose chat completions go through compat.

    Overrides: `default_headers`/`default_query` (the caller's own, sent on every request; a header
    the caller names replaces ours), and api_key, base_url, tier, timeout, max_retries or any other
    KlusterSettings field.
    """
    from kluster_agents.integrations._api.kluster_openai import KlusterOpenAI  # loads openai.resources: keep lazy

    caller_defaults = _caller_defaults(overrides, user_agent)
    settings = resolve_settings(settings, **overrides)
    return KlusterOpenAI(
        **client_kwargs(settings, user_agent=user_agent) | caller_defaults,
        kluster_settings=settings,
        http_client=http_client or shared_http_client(settings),
    )


def make_async_client(
    settings: KlusterSettings | None = None,
    *,
    http_client: httpx.AsyncClient | None = None,
    user_agent: str | None = None,
    **overrides: Any,
) -> AsyncKlusterOpenAI:
    """The async twin of `make_client`, on the running event loop's shared pool."""
    from kluster_agents.integrations._api.kluster_openai import AsyncKlusterOpenAI

    caller_defaults = _caller_defaults(overrides, user_agent)
    settings = resolve_settings(settings, **overrides)
    return AsyncKlusterOpenAI(
        **client_kwargs(settings, user_agent=user_agent) | caller_defaults,
        kluster_settings=settings,
        http_client=http_client or shared_async_http_client(settings),
    )


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise openai SDK errors as the matching `KlusterError` (the SDK error stays as __cause__)."""
    try:
        yield
    except KlusterError:
        raise
    except openai.OpenAIError as exc:
        scrub_exception(exc)
        raise from_openai_error(exc) from exc
