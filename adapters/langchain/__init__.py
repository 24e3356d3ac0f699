"""LangChain adapter for kluster.ai.

- `ChatKluster`: a LangChain chat model (tools, structured output without `response_format`,
  streaming, async, usage, kluster response extras), every request checked by compat;
- `KlusterEmbeddings`: kluster.ai embedding models (BAAI/bge-m3) for vector stores and RAG;
- `KlusterBatchChat` / `ChatKluster(batch=True)`: `.batch()/.abatch()` as one Batch API job;
- `with_verification`, `KlusterVerifyCallbackHandler`, `KlusterVerifyTool`: kluster.ai Verify.

Needs the `langchain` extra: `pip install "kluster-agents[langchain]"`.
"""

from kluster_agents.integrations.api.extras import require

require("langchain_core", "langchain")
require("langchain_openai", "langchain")

from kluster_agents.adapters.langchain.chat_models import ChatKluster, KlusterBatchChat
from kluster_agents.adapters.langchain.embeddings import KlusterEmbeddings
from kluster_agents.adapters.langchain.verify import (
    KlusterVerifyCallbackHandler,
    KlusterVerifyTool,
    VerifyRecord,
    with_verification,
)
from kluster_agents.integrations.api.structured import KlusterStructuredOutputError
from kluster_agents.integrations.verify.policy import HallucinationDetected, VerifyOutcome, VerifyPolicy

__all__ = [
    "ChatKluster",
    "HallucinationDetected",
    "KlusterBatchChat",
    "KlusterEmbeddings",
    "KlusterStructuredOutputError",
    "KlusterVerifyCallbackHandler",
    "KlusterVerifyTool",
    "VerifyOutcome",
    "VerifyPolicy",
    "VerifyRecord",
    "with_verification",
]
