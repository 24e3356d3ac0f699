"""`KlusterEmbeddings`: kluster.ai embedding models (e.g. `BAAI/bge-m3`) as LangChain `Embeddings`.

Implements `langchain_core.embeddings.Embeddings` directly, like langchain-fireworks'
`FireworksEmbeddings`, rather than subclassing `OpenAIEmbeddings`: that class reads `OPENAI_*`
variables, tokenises with tiktoken (OpenAI's tokenizer, and a download offline) and sends
`dimensions`; kluster takes text and returns the model's fixed-size vectors. Requests go through
the clients of `kluster_agents.integrations._api.client` (shared pool, retries, User-Agent),
whose `embeddings.create` checks each request (model kind, input, dimensions) before sending it.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, Self

from langchain_core.embeddings import Embeddings
from langchain_core.utils import from_env, secret_from_env
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from kluster_agents.integrations._api.catalog import DEFAULT_EMBEDDING_MODEL, ModelInfo
from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.embeddings import embedding_model
from kluster_agents.integrations._api.settings import DEFAULT_BASE_URL, KlusterSettings, resolve_settings
from kluster_agents.integrations._api.tiers import Tier

if TYPE_CHECKING:  # the client module loads openai.resources; make_client imports it when a client is built
    from kluster_agents.integrations._api.kluster_openai import AsyncKlusterOpenAI, KlusterOpenAI


class KlusterEmbeddings(BaseModel, Embeddings):
    """kluster.ai embeddings (OpenAI-compatible `POST /v1/embeddings`).

    Setup: `pip install "kluster-agents[langchain]"` and `export KLUSTER_API_KEY=...`.

    ```python
    from kluster_agents.adapters.langchain import KlusterEmbeddings

    embeddings = KlusterEmbeddings(model="BAAI/bge-m3")
    vectors = embeddings.embed_documents(["kluster.ai runs open models", "Paris is in France"])
    query = embeddings.embed_query("Where is Paris?")          # 1024 floats
    InMemoryVectorStore.from_texts(texts, embeddings)          # any LangChain vector store
    ```
    """

    model: str = DEFAULT_EMBEDDING_MODEL
    """Embedding model name (see `kluster-agents models`); the alias `bge-m3` works."""
    api_key: SecretStr | None = Field(default_factory=secret_from_env("KLUSTER_API_KEY", default=None))
    """kluster.ai API key; read from `KLUSTER_API_KEY` when not given."""
    base_url: str = Field(default_factory=from_env("KLUSTER_BASE_URL", default=DEFAULT_BASE_URL))
    """API base URL; read from `KLUSTER_BASE_URL` when not given."""
    tier: Tier | None = None
    """Your kluster.ai plan; `KLUSTER_TIER` when not given."""
    kluster_settings: KlusterSettings | None = Field(default=None, alias="settings", exclude=True)
    """Full `KlusterSettings`; the explicit arguments above override it."""
    chunk_size: int = Field(default=128, ge=1)
    """Texts per request (`embed_documents` splits longer lists)."""
    max_retries: int | None = None
    """Retries of failed requests (the settings' `max_retries` when not given)."""
    request_timeout: float | None = Field(default=None, alias="timeout")
    """Seconds per request (the settings' timeout when not given)."""
    dimensions: int | None = None
    """Optional check: must equal the model's vector length (kluster has no `dimensions` parameter)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body parameters for every request."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", protected_namespaces=())

    _settings: KlusterSettings | None = PrivateAttr(default=None)
    _client: KlusterOpenAI | None = PrivateAttr(default=None)
    _async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncKlusterOpenAI] = PrivateAttr(
        default_factory=weakref.WeakKeyDictionary
    )

    @model_validator(mode="after")
    def _validate(self) -> Self:
        info = embedding_model(self.model)  # a chat model is refused here, with the fix
        if self.dimensions is not None and info.dimensions is not None and self.dimensions != info.dimensions:
            raise ValueError(f"dimensions={self.dimensions}: {info.id} returns {info.dimensions}-dimensional vectors.")
        settings = self.settings
        self.api_key = settings.api_key
        self.base_url = settings.base_url
        self.tier = settings.tier
        return self

    @property
    def settings(self) -> KlusterSettings:
        """The effective settings: explicit arguments, then `settings=`, then `KLUSTER_*` env."""
        if self._settings is None:
            explicit = self.model_fields_set
            overrides: dict[str, Any] = {"tier": self.tier}
            if "api_key" in explicit and self.api_key is not None:
                overrides["api_key"] = self.api_key.get_secret_value()
            if "base_url" in explicit:
                overrides["base_url"] = self.base_url
            if self.max_retries is not None:
                overrides["max_retries"] = self.max_retries
            if self.request_timeout is not None:
                overrides["timeout"] = float(self.request_timeout)
            self._settings = resolve_settings(self.kluster_settings, **overrides)
        return self._settings

    @property
    def model_info(self) -> ModelInfo:
        """Catalog entry of the model (vector length in `dimensions`)."""
        return embedding_model(self.model)

    def _sync_client(self) -> KlusterOpenAI:
        if self._client is None:
            self._client = make_client(self.settings)  # raises KlusterConfigError without a key
        return self._client

    def _async_client(self) -> AsyncKlusterOpenAI:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = make_async_client(self.settings)
        return client

    def _params(self) -> dict[str, Any]:
        return {"model": self.model, "encoding_format": "float", **self.model_kwargs}

    def _chunks(self, texts: list[str]) -> list[list[str]]:
        return [texts[i : i + self.chunk_size] for i in range(0, len(texts), self.chunk_size)]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order (requests of up to `chunk_size` texts)."""
        client = self._sync_client()
        vectors: list[list[float]] = []
        for chunk in self._chunks(list(texts)):
            response = client.embeddings.create(input=chunk, **self._params())
            vectors.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query text."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async `embed_documents` (chunks sent concurrently)."""
        client = self._async_client()
        responses = await asyncio.gather(
            *(client.embeddings.create(input=chunk, **self._params()) for chunk in self._chunks(list(texts)))
        )
        return [item.embedding for r in responses for item in sorted(r.data, key=lambda d: d.index)]

    async def aembed_query(self, text: str) -> list[float]:
        """Async `embed_query`."""
        return (await self.aembed_documents([text]))[0]
