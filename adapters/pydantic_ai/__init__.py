"""kluster.ai for PydanticAI: `KlusterProvider`, `kluster_model()`, `kluster_embedder()`, catalog-driven
model profiles, a Verify output validator, the kluster Verify MCP as a toolset, and batch runs of an agent.

Importing it makes `Agent("kluster:<model>")` work (pydantic-ai has no provider registry; see `_model_strings`).

Needs the `pydantic-ai` extra: `pip install "kluster-agents[pydantic-ai]"`.

The framework check runs at import; each name loads its module on first use (PEP 562), so
`from kluster_agents.adapters.pydantic_ai import KlusterProvider` costs about what pydantic-ai's own
provider import does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kluster_agents.integrations._api.extras import require
from kluster_agents.integrations._lazy import lazy_exports

require("pydantic_ai", "pydantic-ai")

from kluster_agents.adapters.pydantic_ai import _model_strings  # after the extra check


def _kluster_model(model: str) -> Model:
    """`kluster_model(model)`, its module loaded on the first `kluster:` string."""
    from kluster_agents.adapters.pydantic_ai._provider import kluster_model

    return kluster_model(model)


_model_strings.install(_kluster_model)

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from kluster_agents.adapters.pydantic_ai._batch import RunOutcome, run_many, run_many_sync
    from kluster_agents.adapters.pydantic_ai._chat_model import KlusterModelSettings
    from kluster_agents.adapters.pydantic_ai._embeddings import (
        KlusterEmbeddingModel,
        kluster_embedder,
        kluster_embedding_model,
    )
    from kluster_agents.adapters.pydantic_ai._mcp import kluster_mcp_toolset, local_mcp_toolset
    from kluster_agents.adapters.pydantic_ai._profiles import kluster_model_profile
    from kluster_agents.adapters.pydantic_ai._provider import (
        KlusterProvider,
        KlusterProviderError,
        kluster_model,
        kluster_models,
    )
    from kluster_agents.adapters.pydantic_ai._verify import verify_output_validator

_EXPORTS = {
    "RunOutcome": "kluster_agents.adapters.pydantic_ai._batch",
    "run_many": "kluster_agents.adapters.pydantic_ai._batch",
    "run_many_sync": "kluster_agents.adapters.pydantic_ai._batch",
    "KlusterModelSettings": "kluster_agents.adapters.pydantic_ai._chat_model",
    "KlusterEmbeddingModel": "kluster_agents.adapters.pydantic_ai._embeddings",
    "kluster_embedder": "kluster_agents.adapters.pydantic_ai._embeddings",
    "kluster_embedding_model": "kluster_agents.adapters.pydantic_ai._embeddings",
    "kluster_mcp_toolset": "kluster_agents.adapters.pydantic_ai._mcp",
    "local_mcp_toolset": "kluster_agents.adapters.pydantic_ai._mcp",
    "kluster_model_profile": "kluster_agents.adapters.pydantic_ai._profiles",
    "KlusterProvider": "kluster_agents.adapters.pydantic_ai._provider",
    "KlusterProviderError": "kluster_agents.adapters.pydantic_ai._provider",
    "kluster_model": "kluster_agents.adapters.pydantic_ai._provider",
    "kluster_models": "kluster_agents.adapters.pydantic_ai._provider",
    "verify_output_validator": "kluster_agents.adapters.pydantic_ai._verify",
}

__all__ = [
    "KlusterEmbeddingModel",
    "KlusterModelSettings",
    "KlusterProvider",
    "KlusterProviderError",
    "RunOutcome",
    "kluster_embedder",
    "kluster_embedding_model",
    "kluster_mcp_toolset",
    "kluster_model",
    "kluster_model_profile",
    "kluster_models",
    "local_mcp_toolset",
    "run_many",
    "run_many_sync",
    "verify_output_validator",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
