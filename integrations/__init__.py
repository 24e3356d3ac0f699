"""Framework-free kluster.ai layer: every core name (client, settings, catalog, compat, errors, batch,
micro-batcher, adaptive, fine-tuning, Verify, prices) is imported from here, its one public path. The
sub-packages behind it are private (`_api`, `_jobs`, `_verify`, `_cli`), so code can move between them
without breaking users; `mcp` (a namespace: `mcp.enable()`) and `emulator` (testing) are public.

Importing this package imports no agent framework, and (PEP 562) loads each submodule only
when one of its names is first used, so `import kluster_agents.integrations` stays cheap.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kluster_agents.integrations._api.adaptive_requests import install_resolvers
from kluster_agents.integrations._lazy import lazy_exports
from kluster_agents.integrations._version import __version__

_EXPORTS = {
    "ModelInfo": "_api.catalog",
    "get_model": "_api.catalog",
    "list_models": "_api.catalog",
    "refresh_models": "_api.catalog",
    "register_model": "_api.catalog",
    "make_async_client": "_api.client",
    "make_client": "_api.client",
    "check_chat_request": "_api.compat",
    "prepare_chat_request": "_api.compat",
    "KlusterAPIError": "_api.errors",
    "KlusterAuthError": "_api.errors",
    "KlusterBadRequestError": "_api.errors",
    "KlusterBatchError": "_api.errors",
    "KlusterConfigError": "_api.errors",
    "KlusterConnectionError": "_api.errors",
    "KlusterDiskError": "_api.errors",
    "KlusterEmulatorNotRunningError": "_api.errors",
    "KlusterError": "_api.errors",
    "KlusterInvalidRequestError": "_api.errors",
    "KlusterNotFoundError": "_api.errors",
    "KlusterRateLimitError": "_api.errors",
    "KlusterRateLimitStoreError": "_api.errors",
    "KlusterResponseError": "_api.errors",
    "KlusterServerError": "_api.errors",
    "KlusterStreamError": "_api.errors",
    "KlusterTimeoutError": "_api.errors",
    "KlusterUnsupportedError": "_api.errors",
    "KlusterVerifyError": "_api.errors",
    "cost_of": "_api.prices",
    "set_price": "_api.prices",
    "price_of": "_api.prices",
    "KlusterSettings": "_api.settings",
    "Tier": "_api.tiers",
    "kluster_backend": "_backend",
    "AdaptiveMode": "_jobs.adaptive",
    "acomplete_adaptive": "_jobs.adaptive",
    "complete_adaptive": "_jobs.adaptive",
    "BatchHandle": "_jobs.batch.handle",
    "BatchResults": "_jobs.batch.results",
    "BatchStatus": "_jobs.batch.handle",
    "arun_batch": "_jobs.batch.run",
    "asubmit_batch": "_jobs.batch.submit",
    "iter_results": "_jobs.batch.run",
    "run_batch": "_jobs.batch.run",
    "submit_batch": "_jobs.batch.submit",
    "BatchResult": "_jobs.batch.decode",
    "KlusterDuplicateAnswerError": "_jobs.batch.decode",
    "MicroBatchTransport": "_jobs.batch_transport",
    "make_async_batch_client": "_jobs.batch_transport",
    "make_batch_client": "_jobs.batch_transport",
    "Hyperparameters": "_jobs.finetune",
    "KlusterFineTuneError": "_jobs.finetune",
    "finetune": "_jobs.finetune",
    "validate_training_file": "_jobs.finetune",
    "wait_for_finetune": "_jobs.finetune",
    "MicroBatchStats": "_jobs.microbatch",
    "MicroBatcher": "_jobs.microbatch",
    "VerifyClient": "_verify.client",
    "VerifyResult": "_verify.result",
    "averify": "_verify.client",
    "verify": "_verify.client",
    "verify_conversation": "_verify.client",
    "HallucinationDetected": "_verify.policy",
    "VerifyOutcome": "_verify.policy",
    "VerifyPolicy": "_verify.policy",
    "VerifyReport": "_verify.policy",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

# The `kluster_agents` logger hierarchy is silent unless the application configures logging
# (docs/logging.md); libraries add a NullHandler and leave levels and handlers to the app.
logging.getLogger("kluster_agents").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from kluster_agents.integrations._api.catalog import (
        ModelInfo,
        get_model,
        list_models,
        refresh_models,
        register_model,
    )
    from kluster_agents.integrations._api.client import make_async_client, make_client
    from kluster_agents.integrations._api.compat import check_chat_request, prepare_chat_request
    from kluster_agents.integrations._api.errors import (
        KlusterAPIError,
        KlusterAuthError,
        KlusterBadRequestError,
        KlusterBatchError,
        KlusterConfigError,
        KlusterConnectionError,
        KlusterDiskError,
        KlusterEmulatorNotRunningError,
        KlusterError,
        KlusterInvalidRequestError,
        KlusterNotFoundError,
        KlusterRateLimitError,
        KlusterResponseError,
        KlusterServerError,
        KlusterStreamError,
        KlusterTimeoutError,
        KlusterUnsupportedError,
        KlusterVerifyError,
    )
    from kluster_agents.integrations._api.prices import cost_of, price_of, set_price
    from kluster_agents.integrations._api.settings import KlusterSettings
    from kluster_agents.integrations._api.tiers import Tier
    from kluster_agents.integrations._backend import kluster_backend
    from kluster_agents.integrations._jobs.adaptive import AdaptiveMode, acomplete_adaptive, complete_adaptive
    from kluster_agents.integrations._jobs.batch.decode import BatchResult, KlusterDuplicateAnswerError
    from kluster_agents.integrations._jobs.batch.handle import BatchHandle, BatchStatus
    from kluster_agents.integrations._jobs.batch.results import BatchResults
    from kluster_agents.integrations._jobs.batch.run import arun_batch, iter_results, run_batch
    from kluster_agents.integrations._jobs.batch.submit import asubmit_batch, submit_batch
    from kluster_agents.integrations._jobs.batch_transport import (
        MicroBatchTransport,
        make_async_batch_client,
        make_batch_client,
    )
    from kluster_agents.integrations._jobs.finetune import (
        Hyperparameters,
        KlusterFineTuneError,
        finetune,
        validate_training_file,
        wait_for_finetune,
    )
    from kluster_agents.integrations._jobs.microbatch import MicroBatcher, MicroBatchStats
    from kluster_agents.integrations._verify.client import (
        VerifyClient,
        averify,
        verify,
        verify_conversation,
    )
    from kluster_agents.integrations._verify.policy import (
        HallucinationDetected,
        VerifyOutcome,
        VerifyPolicy,
        VerifyReport,
    )
    from kluster_agents.integrations._verify.result import VerifyResult

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def _resolve_placeholder(client: Any, placeholder: Any, settings: Any) -> Any:
    from kluster_agents.integrations._jobs.adaptive import resolve_placeholder

    return resolve_placeholder(client, placeholder, settings)


async def _aresolve_placeholder(client: Any, placeholder: Any, settings: Any) -> Any:
    from kluster_agents.integrations._jobs.adaptive import aresolve_placeholder

    return await aresolve_placeholder(client, placeholder, settings)


# The API layer spots adaptive placeholders; the job layer above it knows how to wait for their jobs.
# The package root, above both, connects them (loading the job layer only when a placeholder arrives).
install_resolvers(_resolve_placeholder, _aresolve_placeholder)
