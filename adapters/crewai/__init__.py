"""kluster.ai for CrewAI: a configured LLM, an embedder for memory and knowledge, Verify
guardrails and tool, batch-aware crews.

    from kluster_agents.adapters.crewai import kluster_llm
    agent = Agent(role=..., goal=..., backstory=..., llm=kluster_llm("llama-3.3-70b"))

Needs the `crewai` extra: pip install "kluster-agents[crewai]".

CrewAI's telemetry is switched off by default (it adds seconds per run and stalls offline):
`CREWAI_DISABLE_TELEMETRY` and `OTEL_SDK_DISABLED` are set to "true" unless already set before this
import — set them to "false" first to keep CrewAI's telemetry.
"""

import os

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from kluster_agents.integrations.api.extras import require

require("crewai", "crewai")

from kluster_agents.adapters.crewai.batched_kickoff import (
    akickoff_for_each_batched,
    kickoff_for_each_batched,
)
from kluster_agents.adapters.crewai.embeddings import (
    KlusterEmbeddingFunction,
    KlusterEmbeddingsProvider,
    kluster_embedder,
    kluster_embedder_config,
)
from kluster_agents.adapters.crewai.guardrail import KlusterVerifyGuardrail, VerifyGuardrail
from kluster_agents.adapters.crewai.llm import KlusterCompletion, kluster_llm
from kluster_agents.adapters.crewai.tools import KlusterVerifyTool
from kluster_agents.integrations.verify.policy import HallucinationDetected, VerifyOutcome, VerifyPolicy

__all__ = [
    "HallucinationDetected",
    "KlusterCompletion",
    "KlusterEmbeddingFunction",
    "KlusterEmbeddingsProvider",
    "KlusterVerifyGuardrail",
    "KlusterVerifyTool",
    "VerifyGuardrail",
    "VerifyOutcome",
    "VerifyPolicy",
    "akickoff_for_each_batched",
    "kickoff_for_each_batched",
    "kluster_embedder",
    "kluster_embedder_config",
    "kluster_llm",
]
