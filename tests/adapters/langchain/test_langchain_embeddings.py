"""`KlusterEmbeddings`: LangChain's standard embeddings suites (unit; integration against the
emulator), what it sends, and retrieval through a LangChain vector store."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from kluster_agents.adapters.langchain import KlusterEmbeddings
from kluster_agents.integrations._api.errors import KlusterConfigError

BGE = "BAAI/bge-m3"


class TestKlusterEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[KlusterEmbeddings]:
        return KlusterEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": BGE}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"KLUSTER_API_KEY": "key-from-env", "KLUSTER_BASE_URL": "https://kluster.example/v1"},
            {"model": BGE},
            {"api_key": "key-from-env", "base_url": "https://kluster.example/v1"},
        )


class TestKlusterEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _emulator(self, kluster_emulator: Any) -> None:
        self.emulator = kluster_emulator

    @property
    def embeddings_class(self) -> type[KlusterEmbeddings]:
        return KlusterEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": BGE, "api_key": self.emulator.api_key, "base_url": self.emulator.base_url}


def _embeddings(emulator: Any, **kwargs: Any) -> KlusterEmbeddings:
    return KlusterEmbeddings(api_key=emulator.api_key, base_url=emulator.base_url, **kwargs)


def test_request_is_plain_text_float_without_dimensions(kluster_emulator: Any) -> None:
    vectors = _embeddings(kluster_emulator, model="bge-m3", chunk_size=2).embed_documents(["a", "b", "c"])
    assert len(vectors) == 3 and all(len(v) == 1024 for v in vectors)
    sent = [r for r in kluster_emulator.controls.requests if r.path.endswith("/embeddings")]
    assert [r.body["input"] for r in sent] == [["a", "b"], ["c"]]  # chunked, text not token ids
    for request in sent:
        assert request.body["model"] == BGE and request.body["encoding_format"] == "float"
        assert "dimensions" not in request.body


def test_vector_store_retrieves_by_meaning(kluster_emulator: Any) -> None:
    store = InMemoryVectorStore.from_texts(
        [
            "The Eiffel Tower in Paris was completed in 1889.",
            "Photosynthesis lets plants turn sunlight into chemical energy.",
            "Mount Everest is the highest mountain above sea level.",
        ],
        _embeddings(kluster_emulator),
    )
    (best,) = store.similarity_search("How do plants use sunlight?", k=1)
    assert best.page_content.startswith("Photosynthesis")


async def test_async_chunks_keep_order(kluster_emulator: Any) -> None:
    model = _embeddings(kluster_emulator, chunk_size=1)
    texts = ["one", "two", "three"]
    assert await model.aembed_documents(texts) == model.embed_documents(texts)


def test_chat_model_and_wrong_dimensions_refused_up_front() -> None:
    with pytest.raises(ValueError, match="not an embedding model"):  # pydantic wraps the KlusterUnsupportedError
        KlusterEmbeddings(model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", api_key="k")
    with pytest.raises(ValueError, match="1024-dimensional"):
        KlusterEmbeddings(dimensions=256, api_key="k")


def test_no_key_is_a_config_error_and_key_not_in_repr() -> None:
    with pytest.raises(KlusterConfigError):
        KlusterEmbeddings().embed_query("x")
    assert "secret-value" not in repr(KlusterEmbeddings(api_key="secret-value"))
