"""`litellm.embedding/aembedding(model="kluster/BAAI/bge-m3")` through the registered provider,
against the emulator: vectors, usage, what is sent, refusals before the network, model info."""

from __future__ import annotations

import litellm
import pytest

from kluster_agents.adapters.litellm import LiteLLMKlusterUnsupportedError
from kluster_agents.integrations import KlusterInvalidRequestError

from .conftest import LLAMA

BGE = "kluster/BAAI/bge-m3"


def _embedding_bodies(emulator) -> list[dict]:
    return [r.body for r in emulator.controls.requests if r.path == "/v1/embeddings"]


def test_embedding_returns_vectors_and_usage(emulator):
    response = litellm.embedding(model=BGE, input=["kluster.ai embeddings", "second text"])
    assert [item["index"] for item in response.data] == [0, 1]
    assert all(len(item["embedding"]) == 1024 for item in response.data)
    assert response.usage.prompt_tokens > 0 and response.usage.total_tokens == response.usage.prompt_tokens
    assert response.model == "BAAI/bge-m3"
    (body,) = _embedding_bodies(emulator)
    assert body == {
        "model": "BAAI/bge-m3",
        "input": ["kluster.ai embeddings", "second text"],
        "encoding_format": "float",
    }


async def test_aembedding_matches_sync(emulator):
    sync = litellm.embedding(model=BGE, input="same text")
    result = await litellm.aembedding(model="kluster/bge-m3", input="same text")
    assert result.data[0]["embedding"] == sync.data[0]["embedding"]


def test_openai_params_follow_litellm_custom_provider_rules(emulator):
    # LiteLLM itself refuses non-default `encoding_format`/`dimensions` for custom providers,
    # and drops them with drop_params; vectors then come back as floats of the model's size.
    with pytest.raises(litellm.UnsupportedParamsError):
        litellm.embedding(model=BGE, input="x", encoding_format="base64")
    response = litellm.embedding(model=BGE, input="x", dimensions=256, encoding_format="base64", drop_params=True)
    assert len(response.data[0]["embedding"]) == 1024
    assert [b["encoding_format"] for b in _embedding_bodies(emulator)] == ["float"]


def test_chat_model_refused_before_the_network(emulator):
    with pytest.raises(LiteLLMKlusterUnsupportedError, match="not an embedding model"):
        litellm.embedding(model=f"kluster/{LLAMA}", input="x")
    with pytest.raises(KlusterInvalidRequestError, match="token ids"):
        litellm.embedding(model=BGE, input=[[1, 2, 3]])
    assert _embedding_bodies(emulator) == []


def test_model_info_says_embedding():
    info = litellm.get_model_info(BGE)
    assert info["mode"] == "embedding" and info["output_vector_size"] == 1024 and info["max_input_tokens"] == 8192
    assert litellm.get_model_info(f"kluster/{LLAMA}")["mode"] == "chat"


def test_global_drop_params_leaves_embeddings_alone(emulator, monkeypatch):
    """`drop_params` concerns chat parameters: with it set globally, an embedding call is not run through
    the chat rules (it was refused for having no messages)."""
    monkeypatch.setattr(litellm, "drop_params", True)
    response = litellm.embedding(model=BGE, input=["kluster.ai embeddings"])
    assert len(response.data[0]["embedding"]) == 1024
