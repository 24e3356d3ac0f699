"""kluster.ai for PydanticAI: `KlusterProvider`, `kluster_model()`, `kluster_embedder()`, catalog-driven
model profiles,
a Verify output validator, the kluster Verify MCP as a toolset, and batch runs of an agent.

Needs the `pydantic-ai` extra: `pip install "kluster-agents[pydantic-ai]"`.
"""

from kluster_agents.integrations.api.extras import require

require("pydantic_ai", "pydantic-ai")

from kluster_agents.adapters.pydantic_ai.batch_runs import RunOutcome, run_many, run_many_sync
from kluster_agents.adapters.pydantic_ai.embeddings import (
    KlusterEmbeddingModel,
    kluster_embedder,
    kluster_embedding_model,
)
from kluster_agents.adapters.pydantic_ai.mcp import kluster_mcp_toolset, local_mcp_toolset
from kluster_agents.adapters.pydantic_ai.profiles import kluster_model_profile
from kluster_agents.adapters.pydantic_ai.provider import (
    KlusterProvider,
    KlusterProviderError,
    kluster_model,
    kluster_models,
)
from kluster_agents.adapters.pydantic_ai.verify import verify_output_validator
from kluster_agents.integrations.verify.policy import HallucinationDetected, VerifyOutcome, VerifyPolicy

__all__ = [
    "HallucinationDetected",
    "KlusterEmbeddingModel",
    "KlusterProvider",
    "KlusterProviderError",
    "RunOutcome",
    "VerifyOutcome",
    "VerifyPolicy",
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
