"""Embedding requests kluster.ai accepts: checked once, before the network.

The embeddings twin of `compat.prepare_chat_request`, applied by the `embeddings` resource of
the clients `make_client()` / `make_async_client()` return, so every adapter (LangChain,
LiteLLM, CrewAI, PydanticAI) sends the same request. What it enforces:
- `model` resolves through the catalog (aliases such as `bge-m3`); a catalog chat model is
  refused with the fix (embedding models: `kluster-agents models`, e.g. BAAI/bge-m3);
  unknown names (dedicated endpoints) pass;
- `input` is text (a string or a list of strings): token-id input was never observed working;
- `dimensions` is dropped when it equals the model's fixed vector length and refused otherwise
  (bge-m3 has one output size);
- `encoding_format` is `float` or `base64`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai

from kluster_agents.integrations._api.catalog import DEFAULT_EMBEDDING_MODEL, ModelInfo, get_model
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError, KlusterUnsupportedError

_REQUEST_OPTIONS = ("extra_headers", "extra_query", "extra_body", "timeout")
ENCODING_FORMATS = ("float", "base64")


def embedding_model(name: str) -> ModelInfo:
    """The catalog entry of an embedding model name; a catalog chat model is refused."""
    info = get_model(name)
    if not info.embedding and (info.kind == "catalog" or info.base_model):
        raise KlusterUnsupportedError(
            f"{info.id} is a chat model, not an embedding model. Fix: use an embedding model such as "
            f"{DEFAULT_EMBEDDING_MODEL!r} (see `kluster-agents models`).",
            parameter="model",
            model=info.id,
        )
    return info


def prepare_embedding_request(params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAI-style embeddings request that kluster.ai accepts (raises otherwise)."""
    request = {k: v for k, v in params.items() if v is not None and not isinstance(v, openai.Omit)}
    model = request.get("model")
    if not isinstance(model, str) or not model.strip():
        raise KlusterInvalidRequestError(
            f"No model given: pass model={DEFAULT_EMBEDDING_MODEL!r} or another embedding model.", parameter="model"
        )
    info = embedding_model(model)
    request["model"] = info.id
    texts = request.get("input")
    if isinstance(texts, tuple):
        texts = request["input"] = list(texts)
    if not (isinstance(texts, str) or (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts))):
        raise KlusterInvalidRequestError(
            "`input` must be a string or a non-empty list of strings (kluster.ai embeds text, not token ids).",
            parameter="input",
        )
    dimensions = request.pop("dimensions", None)
    if dimensions is not None and info.dimensions is not None and dimensions != info.dimensions:
        raise KlusterUnsupportedError(
            f"dimensions={dimensions}: {info.id} returns {info.dimensions}-dimensional vectors only. "
            "Fix: remove `dimensions` (or truncate and re-normalise the vectors yourself).",
            parameter="dimensions",
            model=info.id,
        )
    encoding = request.get("encoding_format")
    if encoding is not None and encoding not in ENCODING_FORMATS:
        raise KlusterUnsupportedError(
            f"encoding_format={encoding!r}: use 'float' or 'base64'.", parameter="encoding_format", model=info.id
        )
    return request


def prepare_embedding_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Apply `prepare_embedding_request` to the body parameters of an `embeddings.create(**kwargs)` call."""
    options = {k: kwargs[k] for k in _REQUEST_OPTIONS if k in kwargs}
    body = {k: v for k, v in kwargs.items() if k not in options}
    return {**prepare_embedding_request(body), **options}
