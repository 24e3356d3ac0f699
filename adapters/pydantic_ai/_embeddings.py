"""kluster.ai embedding models in PydanticAI's `Embedder` API (pydantic-ai-slim 2.31).

    from kluster_agents.adapters.pydantic_ai import kluster_embedder
    embedder = kluster_embedder()                         # BAAI/bge-m3 on KlusterProvider
    result = await embedder.embed_documents(["text one", "text two"])
    result.embeddings, result.usage.input_tokens

`infer_embedding_model("kluster:...")` cannot work: pydantic-ai maps provider names to
embedding model classes with a fixed list. `kluster_embedding_model()` builds the model on
`KlusterProvider`, so requests use its compat-checked client (model kind, text input,
`dimensions`) and the catalog's context size.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai.embeddings import Embedder, EmbeddingSettings
from pydantic_ai.embeddings.openai import OpenAIEmbeddingModel

from kluster_agents.adapters.pydantic_ai._model_strings import MODEL_PREFIX
from kluster_agents.adapters.pydantic_ai._provider import KlusterProvider, KlusterProviderError
from kluster_agents.integrations._api.catalog import DEFAULT_EMBEDDING_MODEL
from kluster_agents.integrations._api.embeddings import embedding_model


class KlusterEmbeddingModel(OpenAIEmbeddingModel):
    """`OpenAIEmbeddingModel` on kluster.ai; `max_input_tokens()` answers from the catalog."""

    async def max_input_tokens(self) -> int | None:
        limits = embedding_model(self.model_name).limits_for(self._provider_settings_tier())
        return limits.context if limits is not None else None

    def _provider_settings_tier(self) -> str:
        provider = self._provider
        return provider.settings.tier.value if isinstance(provider, KlusterProvider) else "core"


def kluster_embedding_model(
    model: str = DEFAULT_EMBEDDING_MODEL,
    *,
    provider: KlusterProvider | None = None,
    settings: EmbeddingSettings | None = None,
    **provider_kwargs: Any,
) -> KlusterEmbeddingModel:
    """An embedding model on kluster.ai (`kluster:` prefix optional; aliases resolve; chat models refused)."""
    if provider is not None and provider_kwargs:
        raise KlusterProviderError(f"Pass either provider= or provider options, not both: {sorted(provider_kwargs)}")
    name = embedding_model(model.removeprefix(MODEL_PREFIX)).id
    return KlusterEmbeddingModel(name, provider=provider or KlusterProvider(**provider_kwargs), settings=settings)


def kluster_embedder(
    model: str = DEFAULT_EMBEDDING_MODEL,
    *,
    provider: KlusterProvider | None = None,
    settings: EmbeddingSettings | None = None,
    **provider_kwargs: Any,
) -> Embedder:
    """A PydanticAI `Embedder` on a kluster.ai embedding model."""
    return Embedder(kluster_embedding_model(model, provider=provider, settings=settings, **provider_kwargs))
