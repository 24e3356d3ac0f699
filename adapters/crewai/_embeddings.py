"""kluster.ai embeddings for CrewAI memory and knowledge.

    from kluster_agents.adapters.crewai import kluster_embedder
    Crew(agents=..., tasks=..., embedder=kluster_embedder())            # knowledge, memory
    Crew(agents=..., tasks=..., embedder={"provider": "kluster", "config": {"model_name": "bge-m3"}})
    Knowledge(collection_name="docs", sources=[...], embedder=kluster_embedder())
    Memory(llm=kluster_llm(...), embedder=KlusterEmbeddingFunction())   # a plain callable works too

Why not CrewAI's `{"provider": "openai", "config": {...}}`: its embedding function (chromadb's)
takes `OPENAI_API_KEY` from the environment whenever it is set — sending OpenAI's key to
kluster — and a ProviderSpec dict is written verbatim into checkpoints, key included. Here
the key comes from `KLUSTER_API_KEY` (or settings) when a request is made, dumps mask it,
and requests go through the kluster client (checked embedding requests, shared pool).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from crewai.rag.core.base_embeddings_provider import BaseEmbeddingsProvider
from crewai.rag.core.types import Documents, Embeddings
from crewai.rag.embeddings.providers.custom.embedding_callable import CustomEmbeddingFunction
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from kluster_agents.integrations._api.catalog import DEFAULT_EMBEDDING_MODEL
from kluster_agents.integrations._api.client import make_client
from kluster_agents.integrations._api.embeddings import embedding_model
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings

if TYPE_CHECKING:
    from kluster_agents.integrations._api.kluster_openai import KlusterOpenAI  # loads all of openai.resources


class KlusterEmbeddingFunction(CustomEmbeddingFunction):
    """A CrewAI/chromadb embedding function backed by a kluster.ai embedding model."""

    def __init__(
        self,
        model_name: str = DEFAULT_EMBEDDING_MODEL,
        api_key: SecretStr | str | None = None,
        base_url: str | None = None,
        settings: KlusterSettings | None = None,
        **_: Any,
    ) -> None:
        self.model_name = embedding_model(model_name).id  # refuses chat models up front
        self._overrides: dict[str, Any] = {}
        if api_key is not None:
            self._overrides["api_key"] = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if base_url is not None:
            self._overrides["base_url"] = base_url
        self._settings = settings
        self._client: KlusterOpenAI | None = None

    def __repr__(self) -> str:
        return f"KlusterEmbeddingFunction(model_name={self.model_name!r})"

    def _get_client(self) -> KlusterOpenAI:
        if self._client is None:  # settings read at the first request (after kluster_backend(), say)
            self._client = make_client(resolve_settings(self._settings, **self._overrides))
        return self._client

    def __call__(self, input: Documents) -> Embeddings:
        texts = [input] if isinstance(input, str) else list(input)
        if not texts:
            return []
        response = self._get_client().embeddings.create(model=self.model_name, input=texts, encoding_format="float")
        return [np.array(item.embedding, dtype=np.float32) for item in sorted(response.data, key=lambda d: d.index)]

    @staticmethod
    def name() -> str:
        return "kluster"

    def is_legacy(self) -> bool:
        """chromadb: store no rebuildable config (it would need our key); the crew passes us in."""
        return True


class KlusterEmbeddingsProvider(BaseEmbeddingsProvider[KlusterEmbeddingFunction]):
    """CrewAI embeddings provider for kluster.ai (what `kluster_embedder()` returns).

    Fields are taken from arguments only (not from environment variables by field name); the
    key, when given, is a `SecretStr`, so checkpoints and dumps show it masked.
    """

    embedding_callable: type[KlusterEmbeddingFunction] = Field(default=KlusterEmbeddingFunction, exclude=True)
    model_name: str = DEFAULT_EMBEDDING_MODEL
    api_key: SecretStr | None = None
    base_url: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def kluster_embedder(
    model: str = DEFAULT_EMBEDDING_MODEL, *, api_key: str | None = None, base_url: str | None = None
) -> KlusterEmbeddingsProvider:
    """The `embedder=` for `Crew`, `Agent`, `Knowledge` (and `Memory` via `build_embedder`).

    Without `api_key`/`base_url`, `KLUSTER_API_KEY`/`KLUSTER_BASE_URL` are read at the first request.
    """
    embedding_model(model)
    return KlusterEmbeddingsProvider(
        model_name=model, api_key=SecretStr(api_key) if api_key is not None else None, base_url=base_url
    )


def kluster_embedder_config(model: str = DEFAULT_EMBEDDING_MODEL, *, base_url: str | None = None) -> dict[str, Any]:
    """The same embedder as a CrewAI ProviderSpec dict: `{"provider": "kluster", "config": ...}`
    (the provider name this package registers with CrewAI when imported).

    It never holds the key (read from `KLUSTER_API_KEY` at the first request), since CrewAI
    checkpoints store ProviderSpec dicts as they are.
    """
    config: dict[str, Any] = {"model_name": embedding_model(model).id}
    if base_url is not None:
        config["base_url"] = base_url
    return {"provider": "kluster", "config": config}
