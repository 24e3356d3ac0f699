"""The API layer: settings, errors, the model catalog, compat and the client factory.

Everything that talks to kluster.ai over HTTP gets its client from `client.make_client`, whose
chat completions pass through `compat` exactly once.
"""

from __future__ import annotations

from kluster_agents.integrations.api.catalog import ModelInfo, get_model, list_models, refresh_models, register_model
from kluster_agents.integrations.api.client import make_async_client, make_client
from kluster_agents.integrations.api.compat import prepare_chat_request
from kluster_agents.integrations.api.settings import KlusterSettings, Tier

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
