"""Framework-free kluster.ai layer: settings, clients, catalog, compat, errors.

Importing this package imports no agent framework; adapters build on it.
"""

from kluster_agents.integrations._version import __version__
from kluster_agents.integrations.client import make_async_client, make_client
from kluster_agents.integrations.compat import prepare_chat_request
from kluster_agents.integrations.errors import (
    KlusterAPIError,
    KlusterAuthError,
    KlusterBadRequestError,
    KlusterBatchError,
    KlusterConfigError,
    KlusterConnectionError,
    KlusterError,
    KlusterNotFoundError,
    KlusterRateLimitError,
    KlusterServerError,
    KlusterTimeoutError,
    KlusterUnsupportedError,
    KlusterVerifyError,
)
from kluster_agents.integrations.models import ModelInfo, get_model, list_models, refresh_models
from kluster_agents.integrations.settings import KlusterSettings, Tier

__all__ = [
    "KlusterAPIError",
    "KlusterAuthError",
    "KlusterBadRequestError",
    "KlusterBatchError",
    "KlusterConfigError",
    "KlusterConnectionError",
    "KlusterError",
    "KlusterNotFoundError",
    "KlusterRateLimitError",
    "KlusterServerError",
    "KlusterSettings",
    "KlusterTimeoutError",
    "KlusterUnsupportedError",
    "KlusterVerifyError",
    "ModelInfo",
    "Tier",
    "__version__",
    "get_model",
    "list_models",
    "make_async_client",
    "make_client",
    "prepare_chat_request",
    "refresh_models",
]
