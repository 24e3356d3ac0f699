"""Which `RateLimiter` a call draws from: one per (base URL, tier, model, overrides, shared budget),
shared process-wide, local or backed by the shared store (`KLUSTER_RATE_LIMIT_STORE`)."""

from __future__ import annotations

import json
import threading

import httpx
from pydantic import SecretStr

from kluster_agents.integrations._api._limit_store import SharedRateLimiter, budget_key, store_for
from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations._api.limits import RateLimiter
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings

LimitScope = tuple[str, int | None, int | None, SecretStr | None, bool]
"""(tier, rpm override, concurrency override, shared store URL, fall back to local when the store is down):
what a shared HTTP pool limits by (see `scope_of`)."""

_limiters: dict[tuple[str, str, str, int | None, int | None, str], RateLimiter] = {}
_registry_lock = threading.Lock()


def scope_of(settings: KlusterSettings) -> LimitScope | None:
    """The limit scope of `settings`, or None when client-side rate limiting is switched off."""
    if not settings.client_rate_limit:
        return None
    return (
        settings.tier.value,
        settings.client_rpm,
        settings.client_concurrency,
        settings.rate_limit_store,
        settings.rate_limit_store_fallback == "local",
    )


def _limiter(base_url: str, scope: LimitScope, model: str, api_key: str | None = None) -> RateLimiter:
    tier, rpm_override, concurrency_override, store_url, fallback_local = scope
    info = get_model(model)
    # a shared budget is per API key (hashed before it goes anywhere); the local one is per process
    shared = ""
    if store_url is not None:
        shared = budget_key(api_key, base_url, info.id, tier)
    key = (base_url, tier, info.id, rpm_override, concurrency_override, shared)
    with _registry_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limits = info.limits_for(tier)
            rpm = rpm_override or (limits.rpm if limits else None)
            concurrency = concurrency_override or (limits.concurrency if limits else None)
            name = f"{info.id}@{tier}"
            if store_url is None:
                limiter = RateLimiter(rpm, concurrency, name=name)
            else:
                store = store_for(store_url.get_secret_value())
                limiter = SharedRateLimiter(
                    rpm, concurrency, name=name, store=store, prefix=shared, fallback_local=fallback_local
                )
            _limiters[key] = limiter
        return limiter


def limiter_for(model: str, settings: KlusterSettings | None = None) -> RateLimiter:
    """The process-wide limiter of `model` on the settings' tier (catalog RPM/concurrency, or the
    `client_rpm`/`client_concurrency` overrides; unlimited when neither knows the model's limits)."""
    settings = resolve_settings(settings)
    scope = scope_of(settings) or (settings.tier.value, settings.client_rpm, settings.client_concurrency, None, False)
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    return _limiter(settings.base_url, scope, model, api_key)


# Real-time endpoints whose JSON body names the model the tier's limits apply to.
_LIMITED_ENDPOINTS = ("/chat/completions", "/completions", "/embeddings")
MODEL_EXTENSION = "kluster_model"
"""A request extension naming the model of its JSON body, set by the kluster clients as they build the
request, so the limiter need not parse the body back (a long conversation costs a millisecond or more)."""


_by_route: dict[tuple[object, ...], RateLimiter | None] = {}
"""`limiter_for_request`'s answers by (URL, model, scope) for requests that name their model in
`MODEL_EXTENSION` on a process-local budget: one dict lookup per request instead of ~20 us of URL
parsing and registry work (1% of a LangChain call to a local server)."""


def reset() -> None:
    """Forget every limiter (and what they learned from 429s): the next call builds fresh ones."""
    with _registry_lock:
        _limiters.clear()
        _by_route.clear()


def limiter_for_request(request: httpx.Request, scope: LimitScope) -> RateLimiter | None:
    """The limiter of a real-time POST (keyed by its base URL and the `model` in its JSON body), or None."""
    if request.method != "POST":
        return None
    model = request.extensions.get(MODEL_EXTENSION)
    if model is None or scope[3] is not None:  # a shared budget is per API key: keyed by the request's header
        return _route_limiter(request, scope, model)
    url = request.url
    route = (url.raw_host, url.port, url.raw_path, model, scope)
    try:
        return _by_route[route]
    except KeyError:
        limiter = _by_route[route] = _route_limiter(request, scope, model)
        return limiter


def _route_limiter(request: httpx.Request, scope: LimitScope, model: object) -> RateLimiter | None:
    path = request.url.path.rstrip("/")
    endpoint = next((e for e in _LIMITED_ENDPOINTS if path.endswith(e)), None)
    if endpoint is None:
        return None
    if model is None:
        try:
            body = json.loads(request.content)
        except (httpx.RequestNotRead, ValueError):
            return None
        model = body.get("model") if isinstance(body, dict) else None
    if not isinstance(model, str) or not model.strip():
        return None
    url = request.url
    base_url = f"{url.scheme}://{url.netloc.decode('ascii')}{path[: -len(endpoint)]}"
    if scope[3] is None:  # a budget of this process: no key needed
        return _limiter(base_url, scope, model)
    return _limiter(base_url, scope, model, request.headers.get("authorization", "").removeprefix("Bearer "))
