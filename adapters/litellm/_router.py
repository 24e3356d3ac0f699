"""`kluster_router()`: a `litellm.Router` preset for kluster models on one tier.

Each model becomes one deployment `kluster/<id>` whose `rpm` and `max_parallel_requests`
come from the catalog's tier table (the Router enforces the concurrency with a semaphore per
deployment and uses rpm for routing and pre-call checks). A 429 reaches the Router as a
`litellm.RateLimitError` carrying kluster's response headers, and the Router waits the
`Retry-After` it names before retrying (our client's own retries are switched off by the
Router, so there is one retry loop, not two). Fallbacks chain kluster models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import litellm

from kluster_agents.adapters.litellm._model_map import PREFIX, model_info_entry, model_name
from kluster_agents.adapters.litellm._registration import ensure_registered
from kluster_agents.integrations._api.catalog import ModelInfo, get_model
from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._api.tiers import Tier

Fallbacks = Mapping[str, Sequence[str]] | Sequence[Mapping[str, Sequence[str]]] | Literal["chain"] | None


def deployment(name: str, info: ModelInfo, settings: KlusterSettings, *, credentials: bool) -> dict[str, Any]:
    """One Router/proxy `model_list` entry for `info` with the tier's limits."""
    params: dict[str, Any] = {"model": PREFIX + info.id}
    limits = info.limits_for(settings.tier)
    if limits is not None:
        params.update(
            {k: v for k, v in (("rpm", limits.rpm), ("max_parallel_requests", limits.concurrency)) if v is not None}
        )
    if credentials:
        params.update(api_base=settings.base_url, api_key=settings.require_api_key())
    model_info = {
        "id": f"kluster-{settings.tier.value}-{info.id}",
        "base_model": PREFIX + info.id,
        **model_info_entry(info, settings),
    }
    return {"model_name": name, "litellm_params": params, "model_info": model_info}


def chain_fallbacks(names: Sequence[str]) -> list[dict[str, list[str]]]:
    """Each model falls back to the models after it, then the ones before it (list order)."""
    return [{name: [*names[i + 1 :], *names[:i]]} for i, name in enumerate(names) if len(names) > 1]


def normalise_fallbacks(fallbacks: Fallbacks, names: Sequence[str]) -> list[dict[str, list[str]]]:
    """LiteLLM's `[{model: [fallback, ...]}]` form, checked against the router's model names."""
    if fallbacks is None:
        return []
    if fallbacks == "chain":
        return chain_fallbacks(names)
    items = [fallbacks] if isinstance(fallbacks, Mapping) else list(fallbacks)
    result = [{model_name(k): [model_name(v) for v in vs]} for item in items for k, vs in item.items()]
    unknown = sorted({n for item in result for k, vs in item.items() for n in (k, *vs)} - set(names))
    if unknown:
        raise KlusterConfigError(
            f"fallbacks name models that are not in the router: {unknown}; "
            f"add them to models=[...] (router models: {list(names)})."
        )
    return result


def kluster_router(
    models: Sequence[str],
    tier: Tier | str | None = None,
    fallbacks: Fallbacks = "chain",
    *,
    settings: KlusterSettings | None = None,
    num_retries: int = 2,
    **router_kwargs: Any,
) -> litellm.Router:
    """A `litellm.Router` over kluster `models` with the tier's RPM/concurrency and fallbacks.

    Call it with the names you passed: `router.completion(model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo",
    ...)`. `fallbacks="chain"` (default) makes each model fall back to the others in list order;
    pass `{"a": ["b"]}` / `[{"a": ["b"]}]` for your own, or None. `tier` defaults to KLUSTER_TIER.
    Credentials: with `settings`, their base URL and key are written into the deployments; without,
    each call reads KLUSTER_BASE_URL/KLUSTER_API_KEY. Other keyword arguments go to `litellm.Router`.
    """
    if not models:
        raise KlusterConfigError(
            "kluster_router needs at least one model, e.g. models=['klusterai/Meta-Llama-3.3-70B-Instruct-Turbo']."
        )
    resolved = resolve_settings(settings, tier=tier.value if isinstance(tier, Tier) else tier)
    ensure_registered()
    names = list(dict.fromkeys(model_name(m) for m in models))
    model_list = [deployment(n, get_model(n), resolved, credentials=settings is not None) for n in names]
    return litellm.Router(
        model_list=model_list,
        fallbacks=normalise_fallbacks(fallbacks, names),
        num_retries=num_retries,
        **router_kwargs,
    )
