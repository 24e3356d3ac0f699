"""The curated public API: `__all__` of the core package and of every adapter package, pinned.

A name added or removed here is an API change: update the pin on purpose (and the CHANGELOG).
"""

from __future__ import annotations

import importlib

import pytest

CORE = [
    "BatchHandle",
    "BatchResult",
    "BatchResults",
    "BatchStatus",
    "HallucinationDetected",
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
    "KlusterSettings",
    "KlusterTimeoutError",
    "KlusterUnsupportedError",
    "KlusterVerifyError",
    "MicroBatchTransport",
    "MicroBatcher",
    "ModelInfo",
    "Tier",
    "VerifyClient",
    "VerifyOutcome",
    "VerifyPolicy",
    "VerifyResult",
    "__version__",
    "arun_batch",
    "asubmit_batch",
    "check_chat_request",
    "get_model",
    "iter_results",
    "kluster_backend",
    "list_models",
    "make_async_batch_client",
    "make_async_client",
    "make_batch_client",
    "make_client",
    "prepare_chat_request",
    "refresh_models",
    "register_model",
    "run_batch",
    "submit_batch",
]

VERIFY_NAMES = {"VerifyPolicy", "VerifyOutcome", "HallucinationDetected"}

ADAPTERS = {
    "langchain": [
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
        "kluster_mcp_tools",
        "local_mcp_tools",
        "with_verification",
    ],
    "litellm": [
        "HallucinationDetected",
        "KlusterLLM",
        "KlusterVerifyGuardrail",
        "LiteLLMKlusterConfigError",
        "LiteLLMKlusterInvalidRequestError",
        "LiteLLMKlusterUnsupportedError",
        "VerifyOutcome",
        "VerifyPolicy",
        "abatch_completion_via_api",
        "batch_completion_via_api",
        "batch_file_line",
        "batch_kwargs",
        "build_proxy_config",
        "kluster_router",
        "kluster_status",
        "litellm_config_command",
        "model_map",
        "register",
        "verify_outcome",
        "verify_result",
    ],
    "crewai": [
        "HallucinationDetected",
        "KlusterCompletion",
        "KlusterEmbeddingFunction",
        "KlusterEmbeddingsProvider",
        "KlusterMCPVerifyDocumentTool",
        "KlusterMCPVerifyTool",
        "KlusterVerifyGuardrail",
        "KlusterVerifyTool",
        "VerifyGuardrail",
        "VerifyOutcome",
        "VerifyPolicy",
        "acall_for_each_batched",
        "akickoff_for_each_batched",
        "call_for_each_batched",
        "kickoff_for_each_batched",
        "kluster_embedder",
        "kluster_embedder_config",
        "kluster_llm",
        "kluster_mcp_tools",
        "local_mcp_tools",
    ],
    "pydantic_ai": [
        "HallucinationDetected",
        "KlusterEmbeddingModel",
        "KlusterModelSettings",
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
    ],
}


def test_core_all_is_pinned_and_resolves() -> None:
    core = importlib.import_module("kluster_agents.integrations")
    assert sorted(core.__all__) == sorted(CORE)
    for name in core.__all__:
        assert getattr(core, name) is not None, name


def test_adapters_package_exports_no_names() -> None:
    assert importlib.import_module("kluster_agents.adapters").__all__ == []


@pytest.mark.parametrize("framework", sorted(ADAPTERS))
def test_adapter_all_is_pinned_and_resolves(framework: str) -> None:
    pytest.importorskip(framework)
    module = importlib.import_module(f"kluster_agents.adapters.{framework}")
    assert sorted(module.__all__) == sorted(ADAPTERS[framework])
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{framework}.{name}"
    assert set(module.__all__) >= VERIFY_NAMES  # every adapter re-exports the Verify names its users need
    from kluster_agents.integrations.verify import policy

    for name in VERIFY_NAMES:
        assert getattr(module, name) is getattr(policy, name)  # one object, not a per-adapter copy


def test_readme_import_paths() -> None:
    for framework in ADAPTERS:
        pytest.importorskip(framework)
    from kluster_agents.adapters.crewai import (  # noqa: F401
        KlusterVerifyTool as CrewAIVerifyTool,
    )
    from kluster_agents.adapters.crewai import (  # noqa: F401
        VerifyGuardrail,
        kickoff_for_each_batched,
        kluster_llm,
    )
    from kluster_agents.adapters.crewai.batch_transport import MicroBatchTransport
    from kluster_agents.adapters.langchain import (  # noqa: F401
        ChatKluster,
        KlusterVerifyCallbackHandler,
        KlusterVerifyTool,
        VerifyPolicy,
        with_verification,
    )
    from kluster_agents.adapters.litellm import (  # noqa: F401
        KlusterVerifyGuardrail,
        batch_completion_via_api,
        kluster_router,
        register,
    )
    from kluster_agents.adapters.pydantic_ai import (  # noqa: F401
        kluster_mcp_toolset,
        kluster_model,
        run_many_sync,
        verify_output_validator,
    )
    from kluster_agents.integrations.jobs.batch_transport import MicroBatchTransport as Core
    from kluster_agents.integrations.microbatch import MicroBatcher, MicroBatchStats  # noqa: F401

    assert MicroBatchTransport is Core


def test_verify_subpackage_is_not_shadowed_by_a_function() -> None:
    """`kluster_agents.integrations.verify` is the sub-package; the function lives inside it."""
    import kluster_agents.integrations as core
    from kluster_agents.integrations.verify import verify

    assert callable(verify)
    assert core.verify.__name__ == "kluster_agents.integrations.verify"
