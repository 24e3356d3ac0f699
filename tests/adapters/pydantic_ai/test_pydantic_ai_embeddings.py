"""PydanticAI `Embedder` on kluster.ai embedding models, against the emulator."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic_ai.embeddings import Embedder

from kluster_agents.adapters.pydantic_ai import (
    KlusterEmbeddingModel,
    KlusterProvider,
    kluster_embedder,
    kluster_embedding_model,
)
from kluster_agents.integrations import KlusterUnsupportedError


def _bodies(emulator: Any) -> list[dict[str, Any]]:
    return [r.body for r in emulator.controls.requests if r.path == "/v1/embeddings"]


async def test_embed_documents_and_query(kluster_emulator: Any) -> None:
    embedder = kluster_embedder(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url)
    docs = await embedder.embed_documents(["Paris is in France.", "Plants use sunlight."])
    assert len(docs.embeddings) == 2 and all(len(v) == 1024 for v in docs.embeddings)
    assert docs.usage.input_tokens > 0 and docs.model_name == "BAAI/bge-m3" and docs.provider_name == "kluster"
    query = await embedder.embed_query("How do plants make energy from sunlight?")
    (vector,) = query.embeddings
    scores = [sum(a * b for a, b in zip(vector, doc, strict=True)) for doc in docs.embeddings]
    assert scores[1] > scores[0]
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-5)
    assert [b["model"] for b in _bodies(kluster_emulator)] == ["BAAI/bge-m3"] * 2


def test_sync_api_alias_and_catalog_context(kluster_emulator: Any) -> None:
    model = kluster_embedding_model(
        "kluster:bge-m3", api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url
    )
    assert isinstance(model, KlusterEmbeddingModel) and model.model_name == "BAAI/bge-m3" and model.system == "kluster"
    embedder = Embedder(model)
    assert embedder.max_input_tokens_sync() == 8192
    assert len(embedder.embed_query_sync("hello").embeddings[0]) == 1024


def test_chat_model_and_dimensions_refused_before_the_network(kluster_emulator: Any) -> None:
    provider = KlusterProvider(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url)
    with pytest.raises(KlusterUnsupportedError, match="not an embedding model"):
        kluster_embedder("llama-3.3-70b", provider=provider)
    with pytest.raises(KlusterUnsupportedError, match="1024-dimensional"):
        kluster_embedder(provider=provider).embed_query_sync("x", settings={"dimensions": 256})
    assert _bodies(kluster_emulator) == []
