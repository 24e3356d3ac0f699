"""kluster.ai for CrewAI: a configured LLM, an embedder for memory and knowledge, Verify
guardrails and tool, batch-aware crews.

    from kluster_agents.adapters.crewai import kluster_llm
    agent = Agent(role=..., goal=..., backstory=..., llm=kluster_llm("llama-3.3-70b"))

Needs the `crewai` extra: pip install "kluster-agents[crewai]".

Importing this package also makes kluster a CrewAI provider name: `LLM(model="kluster/<model>")`,
`Agent(llm="kluster/<model>")` and a crew YAML's `llm: kluster/<model>` build `KlusterCompletion`;
`embedder={"provider": "kluster", "config": {"model_name": ...}}` uses kluster embeddings.

CrewAI's own telemetry is switched off by default (it adds seconds per run and stalls offline):
`CREWAI_DISABLE_TELEMETRY` is set to "true" unless already set before this import — set it to
"false" first to keep CrewAI's telemetry. `OTEL_SDK_DISABLED` is left alone, so the application's
own OpenTelemetry tracing keeps recording.

Each name loads its module on first use (PEP 562), so `from kluster_agents.adapters.crewai import
kluster_llm` costs about what `from crewai import LLM` does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")

from kluster_agents.integrations._api.extras import require
from kluster_agents.integrations._lazy import lazy_exports

require("crewai", "crewai")

from kluster_agents.adapters.crewai._registration import register as _register

_register()  # "kluster/<model>" strings and the "kluster" embedder provider (see _registration.py)

if TYPE_CHECKING:
    from kluster_agents.adapters.crewai._batch import (
        acall_for_each_batched,
        akickoff_for_each_batched,
        call_for_each_batched,
        kickoff_for_each_batched,
    )
    from kluster_agents.adapters.crewai._chat_model import KlusterCompletion, kluster_llm
    from kluster_agents.adapters.crewai._embeddings import (
        KlusterEmbeddingFunction,
        KlusterEmbeddingsProvider,
        kluster_embedder,
        kluster_embedder_config,
    )
    from kluster_agents.adapters.crewai._mcp import (
        KlusterMCPVerifyDocumentTool,
        KlusterMCPVerifyTool,
        kluster_mcp_tools,
        local_mcp_tools,
    )
    from kluster_agents.adapters.crewai._tools import KlusterVerifyTool
    from kluster_agents.adapters.crewai._verify import KlusterVerifyGuardrail

_EXPORTS = {
    "acall_for_each_batched": "kluster_agents.adapters.crewai._batch",
    "akickoff_for_each_batched": "kluster_agents.adapters.crewai._batch",
    "call_for_each_batched": "kluster_agents.adapters.crewai._batch",
    "kickoff_for_each_batched": "kluster_agents.adapters.crewai._batch",
    "KlusterEmbeddingFunction": "kluster_agents.adapters.crewai._embeddings",
    "KlusterEmbeddingsProvider": "kluster_agents.adapters.crewai._embeddings",
    "kluster_embedder": "kluster_agents.adapters.crewai._embeddings",
    "kluster_embedder_config": "kluster_agents.adapters.crewai._embeddings",
    "KlusterVerifyGuardrail": "kluster_agents.adapters.crewai._verify",
    "KlusterCompletion": "kluster_agents.adapters.crewai._chat_model",
    "kluster_llm": "kluster_agents.adapters.crewai._chat_model",
    "KlusterMCPVerifyDocumentTool": "kluster_agents.adapters.crewai._mcp",
    "KlusterMCPVerifyTool": "kluster_agents.adapters.crewai._mcp",
    "kluster_mcp_tools": "kluster_agents.adapters.crewai._mcp",
    "local_mcp_tools": "kluster_agents.adapters.crewai._mcp",
    "KlusterVerifyTool": "kluster_agents.adapters.crewai._tools",
}

__all__ = [
    "KlusterCompletion",
    "KlusterEmbeddingFunction",
    "KlusterEmbeddingsProvider",
    "KlusterMCPVerifyDocumentTool",
    "KlusterMCPVerifyTool",
    "KlusterVerifyGuardrail",
    "KlusterVerifyTool",
    "acall_for_each_batched",
    "akickoff_for_each_batched",
    "call_for_each_batched",
    "kickoff_for_each_batched",
    "kluster_embedder",
    "kluster_embedder_config",
    "kluster_llm",
    "kluster_mcp_tools",
    "local_mcp_tools",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
