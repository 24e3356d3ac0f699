"""The single place every adapter, engine and CLI command gets its openai client from.

Clients share one httpx connection pool per process (sync) and per event loop (async),
carry `User-Agent: kluster-agents/<version>`, and use the SDK's own retries. Real-time requests
on the shared pools wait for their model's tier limits (`api.limits`), shared across the process;
a client given its own `http_client` is not limited.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import openai

from kluster_agents.integrations._version import PROCESS_PRODUCTS, USER_AGENT
from kluster_agents.integrations.api.errors import KlusterError, from_openai_error, scrub_exception
from kluster_agents.integrations.api.limits import AsyncRateLimitedClient, LimitScope, RateLimitedClient, scope_of
from kluster_agents.integrations.api.settings import KlusterSettings, resolve_settings

if TYPE_CHECKING:
    from kluster_agents.integrations.api.kluster_openai import AsyncKlusterOpenAI, KlusterOpenAI

_POOL_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)

_sync_pools: dict[LimitScope | None, httpx.Client] = {}
_async_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[LimitScope | None, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)
_pool_lock = threading.Lock()


def default_headers(user_agent: str | None = None) -> dict[str, str]:
    """`User-Agent: kluster-agents/<version>` plus the process's products and `user_agent` (the
    framework's own product, e.g. "langchain-core/1.7.0", which the inspector page reads)."""
    return {"User-Agent": " ".join([USER_AGENT, *PROCESS_PRODUCTS, *([user_agent] if user_agent else [])])}


def _timeout(settings: KlusterSettings) -> httpx.Timeout:
    return httpx.Timeout(settings.timeout, connect=settings.connect_timeout)


def _new_sync_pool(scope: LimitScope | None) -> httpx.Client:
    if scope is None:
        return httpx.Client(limits=_POOL_LIMITS, follow_redirects=True)
    return RateLimitedClient(scope, limits=_POOL_LIMITS, follow_redirects=True)


def _new_async_pool(scope: LimitScope | None) -> httpx.AsyncClient:
    if scope is None:
        return httpx.AsyncClient(limits=_POOL_LIMITS, follow_redirects=True)
    return AsyncRateLimitedClient(scope, limits=_POOL_LIMITS, follow_redirects=True)


def shared_http_client(settings: KlusterSettings | None = None) -> httpx.Client:
    """The process-wide sync pool for the settings' rate-limit scope (timeouts are set per client by
    the SDK): real-time requests wait for their model's tier limits unless `client_rate_limit` is off."""
    scope = scope_of(resolve_settings(settings))
    with _pool_lock:
        pool = _sync_pools.get(scope)
        if pool is None or pool.is_closed:
            pool = _sync_pools[scope] = _new_sync_pool(scope)
        return pool


def shared_async_http_client(settings: KlusterSettings | None = None) -> httpx.AsyncClient:
    """The async pool of the running event loop (a pool cannot cross loops); a fresh one outside a
    loop. Rate limits are shared with the sync pool and every other loop."""
    scope = scope_of(resolve_settings(settings))
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _new_async_pool(scope)
    with _pool_lock:
        pools = _async_pools.setdefault(loop, {})
        pool = pools.get(scope)
        if pool is None or pool.is_closed:
            pool = pools[scope] = _new_async_pool(scope)
        return pool


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


def make_client(
    settings: KlusterSettings | None = None,
    *,
    http_client: httpx.Client | None = None,
    user_agent: str | None = None,
    **overrides: Any,
) -> KlusterOpenAI:
    """A configured `openai.OpenAI` for kluster.ai whose chat completions go through compat.

    Overrides: api_key, base_url, tier, timeout, max_retries and any other KlusterSettings field.
    """
    from kluster_agents.integrations.api.kluster_openai import KlusterOpenAI  # loads openai.resources: keep lazy

    settings = resolve_settings(settings, **overrides)
    return KlusterOpenAI(
        **client_kwargs(settings, user_agent=user_agent),
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
    from kluster_agents.integrations.api.kluster_openai import AsyncKlusterOpenAI

    settings = resolve_settings(settings, **overrides)
    return AsyncKlusterOpenAI(
        **client_kwargs(settings, user_agent=user_agent),
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
