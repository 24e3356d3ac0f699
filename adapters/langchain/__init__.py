"""LangChain adapter for kluster.ai.

- `ChatKluster`: a LangChain chat model (tools, structured output without `response_format`,
  streaming, async, usage, kluster response extras), every request checked by compat;
- `KlusterEmbeddings`: kluster.ai embedding models (BAAI/bge-m3) for vector stores and RAG;
- `KlusterBatchChat` / `ChatKluster(batch=True)`: `.batch()/.abatch()` as one Batch API job;
- `with_verification`, `KlusterVerifyCallbackHandler`, `KlusterVerifyTool`: kluster.ai Verify;
- `kluster_mcp_tools`, `local_mcp_tools`: the Verify MCP tools (cloud endpoint or local server).

Importing this package makes `kluster` a provider of LangChain's `init_chat_model`:
`init_chat_model("kluster:<model>")`, `init_chat_model("<model>", model_provider="kluster")`
and `create_agent("kluster:<model>", ...)` build a `ChatKluster`.

Needs the `langchain` extra: `pip install "kluster-agents[langchain]"`.

The framework check runs at import; each name loads its module on first use (PEP 562), so
`from kluster_agents.adapters.langchain import ChatKluster` costs about what LangChain's own import does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kluster_agents.integrations._api.extras import require
from kluster_agents.integrations._lazy import lazy_exports

require("langchain_core", "langchain")
require("langchain_openai", "langchain")

from kluster_agents.adapters.langchain._provider import register_provider

register_provider()  # init_chat_model("kluster:<model>") and create_agent("kluster:<model>") route to ChatKluster

if TYPE_CHECKING:
    from kluster_agents.adapters.langchain._chat_model import ChatKluster, KlusterBatchChat
    from kluster_agents.adapters.langchain._embeddings import KlusterEmbeddings
    from kluster_agents.adapters.langchain._mcp import kluster_mcp_tools, local_mcp_tools
    from kluster_agents.adapters.langchain._verify import (
        KlusterVerifyCallbackHandler,
        KlusterVerifyTool,
        VerifyRecord,
        with_verification,
    )
    from kluster_agents.integrations._api.structured import KlusterStructuredOutputError

_EXPORTS = {
    "ChatKluster": "kluster_agents.adapters.langchain._chat_model",
    "KlusterBatchChat": "kluster_agents.adapters.langchain._chat_model",
    "KlusterEmbeddings": "kluster_agents.adapters.langchain._embeddings",
    "KlusterVerifyCallbackHandler": "kluster_agents.adapters.langchain._verify",
    "kluster_mcp_tools": "kluster_agents.adapters.langchain._mcp",
    "local_mcp_tools": "kluster_agents.adapters.langchain._mcp",
    "KlusterVerifyTool": "kluster_agents.adapters.langchain._verify",
    "VerifyRecord": "kluster_agents.adapters.langchain._verify",
    "with_verification": "kluster_agents.adapters.langchain._verify",
    "KlusterStructuredOutputError": "kluster_agents.integrations._api.structured",
}

__all__ = [
    "ChatKluster",
    "KlusterBatchChat",
    "KlusterEmbeddings",
    "KlusterStructuredOutputError",
    "KlusterVerifyCallbackHandler",
    "KlusterVerifyTool",
    "VerifyRecord",
    "kluster_mcp_tools",
    "local_mcp_tools",
    "with_verification",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
