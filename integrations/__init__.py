"""Framework-free kluster.ai layer: settings, clients, catalog, compat, errors.

Importing this package imports no agent framework, and (PEP 562) loads each submodule only
when one of its names is first used, so `import kluster_agents.integrations` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kluster_agents.integrations._version import __version__

_EXPORTS = {
    "make_client": "client",
    "make_async_client": "client",
    "prepare_chat_request": "compat",
    "ModelInfo": "models",
    "get_model": "models",
    "list_models": "models",
    "refresh_models": "models",
    "KlusterSettings": "settings",
    "Tier": "settings",
    **{
        name: "errors"
        for name in (
            "KlusterAPIError",
            "KlusterAuthError",
            "KlusterBadRequestError",
            "KlusterBatchError",
            "KlusterConfigError",
            "KlusterConnectionError",
            "KlusterError",
            "KlusterInvalidRequestError",
            "KlusterNotFoundError",
            "KlusterRateLimitError",
            "KlusterServerError",
            "KlusterTimeoutError",
            "KlusterUnsupportedError",
            "KlusterVerifyError",
        )
    },
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:
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
        KlusterInvalidRequestError,
        KlusterNotFoundError,
        KlusterRateLimitError,
        KlusterServerError,
        KlusterTimeoutError,
        KlusterUnsupportedError,
        KlusterVerifyError,
    )
    from kluster_agents.integrations.models import ModelInfo, get_model, list_models, refresh_models
    from kluster_agents.integrations.settings import KlusterSettings, Tier


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kluster_agents.integrations' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kluster_agents.integrations.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
