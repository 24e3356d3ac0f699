"""The API layer: settings, errors, the model catalog, compat and the client factory.

Everything that talks to kluster.ai over HTTP gets its client from `client.make_client`, whose
chat completions pass through `compat` exactly once.

Names load on first use (PEP 562): every adapter imports `api.extras` at start-up, and that must
not pull in the client, the catalog and pydantic-settings before the framework is even checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kluster_agents.integrations._lazy import lazy_exports

if TYPE_CHECKING:
    from kluster_agents.integrations.api.catalog import (
        ModelInfo,
        get_model,
        list_models,
        refresh_models,
        register_model,
    )
    from kluster_agents.integrations.api.client import make_async_client, make_client
    from kluster_agents.integrations.api.compat import prepare_chat_request
    from kluster_agents.integrations.api.settings import KlusterSettings, Tier

_EXPORTS = {
    "ModelInfo": "catalog",
    "get_model": "catalog",
    "list_models": "catalog",
    "refresh_models": "catalog",
    "register_model": "catalog",
    "make_async_client": "client",
    "make_client": "client",
    "prepare_chat_request": "compat",
    "KlusterSettings": "settings",
    "Tier": "settings",
}

__all__ = [
    "KlusterSettings",
    "ModelInfo",
    "Tier",
    "get_model",
    "list_models",
    "make_async_client",
    "make_client",
    "prepare_chat_request",
    "refresh_models",
    "register_model",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
