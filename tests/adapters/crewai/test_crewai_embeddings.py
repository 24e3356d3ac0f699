"""kluster.ai embeddings in CrewAI: `kluster_embedder()` / `kluster_embedder_config()` through
CrewAI's own `build_embedder`, knowledge retrieval by vector similarity, and no key leaks."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from crewai.knowledge.knowledge import Knowledge
from crewai.knowledge.source.string_knowledge_source import StringKnowledgeSource
from crewai.rag.embeddings.factory import build_embedder

from kluster_agents.adapters.crewai import (
    KlusterEmbeddingFunction,
    kluster_embedder,
    kluster_embedder_config,
)

FACTS = [
    "The Eiffel Tower in Paris was completed in 1889.",
    "Photosynthesis lets plants turn sunlight into chemical energy.",
    "Mount Everest is the highest mountain above sea level.",
]


def _bodies(emulator: Any) -> list[dict[str, Any]]:
    return [r.body for r in emulator.controls.requests if r.path == "/v1/embeddings"]


@pytest.mark.parametrize("spec", ["provider", "dict"])
def test_build_embedder_gives_kluster_vectors(kluster_emulator_env: Any, spec: str) -> None:
    embedder = build_embedder(kluster_embedder() if spec == "provider" else kluster_embedder_config("bge-m3"))
    assert isinstance(embedder, KlusterEmbeddingFunction)
    vectors = embedder(["first text", "second text"])
    assert len(vectors) == 2 and all(isinstance(v, np.ndarray) and v.shape == (1024,) for v in vectors)
    (body,) = _bodies(kluster_emulator_env)
    assert body == {"model": "BAAI/bge-m3", "input": ["first text", "second text"], "encoding_format": "float"}


def test_key_is_read_at_call_time_and_never_dumped(kluster_emulator: Any) -> None:
    provider = kluster_embedder(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url)
    dumped = json.dumps(provider.model_dump(mode="json"), default=str)
    assert kluster_emulator.api_key not in dumped and kluster_emulator.api_key not in repr(provider)
    assert "api_key" not in json.dumps(kluster_embedder_config(), default=str)
    assert len(build_embedder(provider)(["x"])[0]) == 1024  # the explicit key and URL were used


def test_provider_ignores_generic_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "not-this")
    monkeypatch.setenv("MODEL_NAME", "not-this-either")
    provider = kluster_embedder()
    assert provider.api_key is None and provider.model_name == "BAAI/bge-m3"


def test_chat_model_refused() -> None:
    with pytest.raises(ValueError, match="not an embedding model"):
        kluster_embedder("llama-3.3-70b")


def test_knowledge_retrieves_by_meaning(
    kluster_emulator_env: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREWAI_STORAGE_DIR", str(tmp_path / "crewai"))
    knowledge = Knowledge(
        collection_name="facts",
        sources=[StringKnowledgeSource(content=fact) for fact in FACTS],
        embedder=kluster_embedder(),
    )
    knowledge.add_sources()
    results = knowledge.query(["How do plants use sunlight?"], results_limit=1)
    assert results[0]["content"].startswith("Photosynthesis")
    assert _bodies(kluster_emulator_env)  # vectors came from kluster, not a default embedder
