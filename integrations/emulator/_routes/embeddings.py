"""`POST /v1/embeddings`: deterministic vectors for the catalog's embedding models.

Observed on the live service (the vendor's RAG notebook): `embeddings.create(model="BAAI/bge-m3",
encoding_format="float")` returns 1024 floats per input with `usage.prompt_tokens`, for one
string or a list of strings. As for chat, an unknown model is a 404 and a model of another kind
(a chat model) a 400. `encoding_format` is `float` (the default) or `base64` (little-endian
float32, what the openai SDK asks for when the caller does not choose). The model's vector
length is fixed: a different `dimensions` is refused (accepted and ignored in lenient mode).
Token-id input is not accepted: only text input was observed.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kluster_agents.integrations._api.catalog import ModelInfo
from kluster_agents.integrations.emulator._model.embedder import embed, input_tokens
from kluster_agents.integrations.emulator._server.http_errors import (
    EmulatorAPIError,
    bad_request,
    not_found,
    unsupported,
)
from kluster_agents.integrations.emulator._server.web import FastJSONResponse, emulated, json_body, runtime

router = APIRouter()

ENCODINGS = ("float", "base64")


@router.post("/embeddings")
async def create_embeddings(request: Request) -> Response:
    rt = runtime(request)
    body = await json_body(request)
    info = _model(body, rt.lookup_model)
    texts = _inputs(body.get("input"))
    encoding = body.get("encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise bad_request(f"`encoding_format` must be one of {', '.join(ENCODINGS)}.", param="encoding_format")
    dimensions = info.dimensions or 1024
    requested = body.get("dimensions")
    if requested is not None and requested != dimensions and rt.controls.mode != "lenient":
        raise unsupported("dimensions", f"{info.id} returns {dimensions}-dimensional vectors only.")
    tokens = [input_tokens(text) for text in texts]
    limits = info.limits_for(rt.controls.tier)
    for index, used in enumerate(tokens):
        if limits and limits.context and used > limits.context:
            raise EmulatorAPIError(
                400,
                f"input[{index}] has about {used} tokens; {info.id} takes at most {limits.context}.",
                param="input",
                code="context_length_exceeded",
            )
    data = [
        {"object": "embedding", "index": index, "embedding": _encode(embed(text, dimensions), encoding)}
        for index, text in enumerate(texts)
    ]
    usage = {"prompt_tokens": sum(tokens), "total_tokens": sum(tokens)}
    return FastJSONResponse(emulated({"object": "list", "data": data, "model": info.id, "usage": usage}))


def _model(body: Mapping[str, Any], lookup: Any) -> ModelInfo:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("`model` is required.", param="model")
    info: ModelInfo | None = lookup(model)
    if info is None:
        raise not_found("model", model, param="model")
    if not info.embedding:
        raise bad_request(
            f"Model {info.id} is not an embedding model; use an embedding model such as BAAI/bge-m3.",
            param="model",
            code="model_not_supported",
        )
    return info


def _inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return value
    if isinstance(value, list) and not value:
        raise bad_request("`input` must not be an empty array.", param="input")
    raise bad_request("`input` must be a string or an array of strings.", param="input")


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
