"""Framework-free kluster.ai layer: the API (settings, errors, catalog, compat, client), jobs (batch,
micro-batcher, adaptive, fine-tuning), Verify, MCP, the CLI and the emulator, one sub-package each.

Importing this package imports no agent framework, and (PEP 562) loads each submodule only
when one of its names is first used, so `import kluster_agents.integrations` stays cheap.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kluster_agents.integrations._lazy import lazy_exports
from kluster_agents.integrations._version import __version__
from kluster_agents.integrations.api.adaptive_requests import install_resolvers

_EXPORTS = {
    "make_client": "api.client",
    "make_async_client": "api.client",
    "prepare_chat_request": "api.compat",
    "check_chat_request": "api.compat",
    "ModelInfo": "api.catalog",
    "get_model": "api.catalog",
    "list_models": "api.catalog",
    "refresh_models": "api.catalog",
    "register_model": "api.catalog",
    "KlusterSettings": "api.settings",
    "Tier": "api.settings",
    "kluster_backend": "backend",
    "BatchHandle": "jobs.batch",
    "BatchStatus": "jobs.batch",
    "BatchResults": "jobs.batch",
    "run_batch": "jobs.batch",
    "arun_batch": "jobs.batch",
    "submit_batch": "jobs.batch",
    "asubmit_batch": "jobs.batch",
    "iter_results": "jobs.batch",
    "BatchResult": "jobs.batch_results",
    "MicroBatcher": "jobs.microbatch",
    "MicroBatchTransport": "jobs.batch_transport",
    "make_batch_client": "jobs.batch_transport",
    "make_async_batch_client": "jobs.batch_transport",
    "VerifyClient": "verify.client",
    "VerifyResult": "verify.client",
    "VerifyPolicy": "verify.policy",
    "VerifyOutcome": "verify.policy",
    "HallucinationDetected": "verify.policy",
    **{
        name: "api.errors"
        for name in (
            "KlusterAPIError",
            "KlusterAuthError",
            "KlusterBadRequestError",
            "KlusterBatchError",
            "KlusterConfigError",
            "KlusterConnectionError",
            "KlusterEmulatorNotRunningError",
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

# The `kluster_agents` logger hierarchy is silent unless the application configures logging
# (README: "Logging"); libraries add a NullHandler and leave levels and handlers to the app.
logging.getLogger("kluster_agents").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from kluster_agents.integrations.api.catalog import (
        ModelInfo,
        get_model,
        list_models,
        refresh_models,
        register_model,
    )
    from kluster_agents.integrations.api.client import make_async_client, make_client
    from kluster_agents.integrations.api.compat import check_chat_request, prepare_chat_request
    from kluster_agents.integrations.api.errors import (
        KlusterAPIError,
        KlusterAuthError,
        KlusterBadRequestError,
        KlusterBatchError,
        KlusterConfigError,
        KlusterConnectionError,
        KlusterEmulatorNotRunningError,
        KlusterError,
        KlusterInvalidRequestError,
        KlusterNotFoundError,
        KlusterRateLimitError,
        KlusterServerError,
        KlusterTimeoutError,
        KlusterUnsupportedError,
        KlusterVerifyError,
    )
    from kluster_agents.integrations.api.settings import KlusterSettings, Tier
    from kluster_agents.integrations.backend import kluster_backend
    from kluster_agents.integrations.jobs.batch import (
        BatchHandle,
        BatchResults,
        BatchStatus,
        arun_batch,
        asubmit_batch,
        iter_results,
        run_batch,
        submit_batch,
    )
    from kluster_agents.integrations.jobs.batch_results import BatchResult
    from kluster_agents.integrations.jobs.batch_transport import (
        MicroBatchTransport,
        make_async_batch_client,
        make_batch_client,
    )
    from kluster_agents.integrations.jobs.microbatch import MicroBatcher
    from kluster_agents.integrations.verify.client import VerifyClient, VerifyResult
    from kluster_agents.integrations.verify.policy import HallucinationDetected, VerifyOutcome, VerifyPolicy

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def _resolve_placeholder(client: Any, placeholder: Any, settings: Any) -> Any:
    from kluster_agents.integrations.jobs.adaptive import resolve_placeholder

    return resolve_placeholder(client, placeholder, settings)


async def _aresolve_placeholder(client: Any, placeholder: Any, settings: Any) -> Any:
    from kluster_agents.integrations.jobs.adaptive import aresolve_placeholder

    return await aresolve_placeholder(client, placeholder, settings)


# The API layer spots adaptive placeholders; the job layer above it knows how to wait for their jobs.
# The package root, above both, connects them (loading the job layer only when a placeholder arrives).
install_resolvers(_resolve_placeholder, _aresolve_placeholder)
