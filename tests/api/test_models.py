from __future__ import annotations

import httpx
import pytest

from kluster_agents.integrations import KlusterConfigError, KlusterSettings, get_model, list_models, refresh_models
from kluster_agents.integrations._api.catalog import (
    CATALOG,
    chat_models,
    embedding_models,
    register_model,
    supports_tools,
)
from kluster_agents.integrations._api.client import make_client

LLAMA70 = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


def test_catalog_has_every_documented_model() -> None:
    ids = {m.id for m in CATALOG if not m.embedding}
    assert len(ids) == 13
    assert {"deepseek-ai/DeepSeek-R1-0528", "Qwen/Qwen3-235B-A22B-FP8", "klusterai/verify-reliability", LLAMA70} <= ids


@pytest.mark.parametrize("name", [LLAMA70, LLAMA70.upper(), "llama-3.3-70b", "Meta-Llama-3.3-70B-Instruct-Turbo"])
def test_lookup_by_name_case_and_alias(name: str) -> None:
    assert get_model(name).id == LLAMA70


def test_capabilities_from_the_comparison_table() -> None:
    assert get_model("deepseek-r1").tools is False and get_model("deepseek-r1").reasoning
    assert get_model("deepseek-v3").tools is True
    assert get_model("gemma-3-27b").vision and not get_model("gemma-3-27b").tools
    assert get_model("llama-3.1-8b").fine_tuning
    assert get_model("verify").verify


def test_per_tier_limits() -> None:
    gemma = get_model("google/gemma-3-27b-it")
    assert gemma.limits_for("trial").context == 32_000 and gemma.limits_for("trial").max_output == 4_000
    assert gemma.limits_for("core").context == 64_000 and gemma.limits_for("core").max_output == 8_000
    assert gemma.limits_for("core").max_batch_requests == 100_000 and gemma.limits_for("core").rpm == 600
    assert gemma.limits_for("scale").rpm == 1200
    assert gemma.limits_for("enterprise").rpm is None  # "Unlimited"
    assert get_model("llama-4-maverick").limits_for("core").context == 1_000_000


def test_fine_tuned_and_job_base_names_inherit_capabilities() -> None:
    ft = get_model("ft:meta-llama:Llama-3.1-8B-Instruct:personal:805b5d69")
    assert ft.kind == "fine-tuned" and ft.base_model == "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
    assert ft.tools and ft.limits_for("core").context == 131_000
    assert get_model("meta-llama/Meta-Llama-3.1-8B-Instruct").base_model == "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"


def test_unknown_names_get_permissive_defaults() -> None:
    info = get_model("my-dedicated-endpoint-7f3a")
    assert info.kind == "unknown" and info.tools and info.vision and info.limits_for("core") is None


def test_register_dedicated_endpoint_with_base() -> None:
    info = register_model("endpoint-abc123", base="deepseek-r1")
    assert get_model("ENDPOINT-ABC123") == info
    assert info.kind == "dedicated" and info.reasoning and not info.tools
    assert info in list_models()


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_empty_model_name(bad) -> None:
    with pytest.raises(KlusterConfigError, match="kluster-agents models"):
        get_model(bad)


def test_tool_support_source_is_a_setting() -> None:
    qwen = get_model("qwen3-235b")
    assert supports_tools(qwen, KlusterSettings()) is True
    assert supports_tools(qwen, KlusterSettings(tool_support="llama-only")) is False
    assert supports_tools(get_model("llama-3.3-70b"), KlusterSettings(tool_support="llama-only")) is True


def test_refresh_models_registers_listed_fine_tunes() -> None:
    payload = {
        "object": "list",
        "data": [
            {"id": LLAMA70, "object": "model", "created": 1, "owned_by": "klusterai"},
            {"id": "ft:meta-llama:Llama-3.3-70B-Instruct:team:abc", "object": "model", "created": 2, "owned_by": "me"},
        ],
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=payload))
    client = make_client(KlusterSettings(api_key="k-123456"), http_client=httpx.Client(transport=transport))
    infos = refresh_models(client)
    assert [i.id for i in infos] == [LLAMA70, "ft:meta-llama:Llama-3.3-70B-Instruct:team:abc"]
    assert infos[1].kind == "fine-tuned" and infos[1].base_model == LLAMA70


def test_embedding_model_from_the_vendor_notebook() -> None:
    bge = get_model("bge-m3")
    assert bge.id == "BAAI/bge-m3" and bge.embedding and bge.dimensions == 1024
    assert not (bge.tools or bge.vision or bge.reasoning or bge.verify or bge.fine_tuning or bge.batch)
    assert bge.limits_for("core").context == 8192
    assert embedding_models() == [bge]
    assert bge not in chat_models() and get_model(LLAMA70) in chat_models()
    assert all(m.dimensions is None for m in chat_models())
