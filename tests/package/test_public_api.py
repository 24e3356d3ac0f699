"""The curated public API: `__all__` of the core package and of every adapter package, pinned.

A name added or removed here is an API change: update the pin on purpose (and the CHANGELOG).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

import pytest

CORE = [
    "Hyperparameters",
    "acomplete_adaptive",
    "complete_adaptive",
    "set_price",
    "AdaptiveMode",
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
    "KlusterDiskError",
    "KlusterDuplicateAnswerError",
    "KlusterEmulatorNotRunningError",
    "KlusterError",
    "KlusterFineTuneError",
    "KlusterInvalidRequestError",
    "KlusterNotFoundError",
    "KlusterRateLimitError",
    "KlusterResponseError",
    "KlusterRateLimitStoreError",
    "KlusterServerError",
    "KlusterSettings",
    "KlusterStreamError",
    "KlusterTimeoutError",
    "KlusterUnsupportedError",
    "KlusterVerifyError",
    "MicroBatchStats",
    "MicroBatchTransport",
    "MicroBatcher",
    "ModelInfo",
    "Tier",
    "VerifyClient",
    "VerifyOutcome",
    "VerifyPolicy",
    "VerifyReport",
    "VerifyResult",
    "__version__",
    "arun_batch",
    "asubmit_batch",
    "averify",
    "check_chat_request",
    "cost_of",
    "finetune",
    "get_model",
    "iter_results",
    "kluster_backend",
    "list_models",
    "make_async_batch_client",
    "make_async_client",
    "make_batch_client",
    "make_client",
    "prepare_chat_request",
    "price_of",
    "refresh_models",
    "register_model",
    "run_batch",
    "submit_batch",
    "validate_training_file",
    "verify",
    "verify_conversation",
    "wait_for_finetune",
]

ADAPTERS = {
    "langchain": [
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
    ],
    "litellm": [
        "KlusterLLM",
        "KlusterVerifyGuardrail",
        "LiteLLMKlusterConfigError",
        "LiteLLMKlusterInvalidRequestError",
        "LiteLLMKlusterUnsupportedError",
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
    ],
    "pydantic_ai": [
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
    ],
}


def test_core_all_is_pinned_and_resolves() -> None:
    core = importlib.import_module("kluster_agents.integrations")
    assert sorted(core.__all__) == sorted(CORE)
    for name in core.__all__:
        assert getattr(core, name) is not None, name


def test_adapters_package_exports_no_names() -> None:
    assert importlib.import_module("kluster_agents.adapters").__all__ == []


PUBLIC_PACKAGES = {
    "kluster_agents.integrations": None,
    "kluster_agents.integrations.mcp": None,
    "kluster_agents.integrations.emulator": None,
    "kluster_agents.adapters": None,
    **{f"kluster_agents.adapters.{framework}": framework for framework in ADAPTERS},
}


@pytest.mark.parametrize("framework", sorted(ADAPTERS))
def test_adapter_all_is_pinned_and_resolves(framework: str) -> None:
    pytest.importorskip(framework)
    module = importlib.import_module(f"kluster_agents.adapters.{framework}")
    assert sorted(module.__all__) == sorted(ADAPTERS[framework])
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{framework}.{name}"


def _modules_under(package: str) -> list[str]:
    root = importlib.import_module(package)
    return [info.name for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")]


# The pytest plugin's module is named by the `pytest11` entry point; users see its fixtures, not its names.
PUBLIC_MODULES = {"kluster_agents.integrations.testing", "kluster_agents.integrations.testing.pytest_plugin"}


def test_every_module_outside_the_public_packages_is_private() -> None:
    """Code moves between private modules without breaking anyone: only the public packages (and the
    pytest plugin's module) have names without a leading underscore; the emulator's layout is private."""
    found = {"kluster_agents.integrations", "kluster_agents.adapters"}
    for package in ("kluster_agents.integrations", "kluster_agents.adapters"):
        for name in _modules_under(package):
            if not any(part.startswith("_") for part in name.split(".")):
                found.add(name)
    assert found == set(PUBLIC_PACKAGES) | PUBLIC_MODULES


def test_each_public_object_has_one_path() -> None:
    """No object is exported by two public packages (the Verify names live in the core only). Two
    adapters may each have their own `KlusterVerifyTool`: same name, different objects."""
    owners: dict[int, list[str]] = {}
    for package, framework in PUBLIC_PACKAGES.items():
        if framework is not None and importlib.util.find_spec(framework) is None:
            continue
        module = importlib.import_module(package)
        for name in module.__all__:
            if name != "__version__":
                owners.setdefault(id(getattr(module, name)), []).append(f"{package}.{name}")
    assert [where for where in owners.values() if len(where) > 1] == []


def test_verify_is_the_function() -> None:
    """`verify` at the core is the Verify call (the sub-package behind it is private)."""
    from kluster_agents.integrations import verify

    assert callable(verify) and verify.__name__ == "verify"
