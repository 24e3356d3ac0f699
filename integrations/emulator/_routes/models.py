"""`GET /v1/models` (and `/v1/models/{id}`): the catalog plus models fine-tuned in the emulator."""

from __future__ import annotations

import zlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kluster_agents.integrations._api.catalog import list_models
from kluster_agents.integrations.emulator._server.http_errors import not_found
from kluster_agents.integrations.emulator._server.runtime import FINE_TUNED_KIND
from kluster_agents.integrations.emulator._server.web import FastJSONResponse, emulated, runtime

router = APIRouter()

_OWNERS = {"meta-llama": "meta", "Qwen": "qwen", "deepseek-ai": "klusterai"}
_CATALOG_CREATED = 1731336418  # the first `created` in the docs' example listing
_YEAR = 365 * 86400


def created_of(model_id: str) -> int:
    """Each model its own stable `created` (observed: the live listing's values differ per model)."""
    return _CATALOG_CREATED + zlib.crc32(model_id.encode()) % _YEAR


def owner_of(model_id: str) -> str:
    """`owned_by` as the docs' listing shows it (e.g. meta-llama/... -> meta)."""
    org = model_id.split("/", 1)[0] if "/" in model_id else "klusterai"
    return _OWNERS.get(org, org.lower())


def _all_models(request: Request) -> list[dict[str, Any]]:
    catalog = [
        {"id": m.id, "object": "model", "created": created_of(m.id), "owned_by": owner_of(m.id)} for m in list_models()
    ]
    return catalog + list(reversed(runtime(request).store.list(FINE_TUNED_KIND)))


@router.get("/models")
async def list_all(request: Request) -> Response:
    return FastJSONResponse(emulated({"object": "list", "data": [emulated(m) for m in _all_models(request)]}))


@router.get("/models/{model_id:path}")
async def retrieve(model_id: str, request: Request) -> Response:
    for model in _all_models(request):
        if model["id"] == model_id:
            return FastJSONResponse(emulated(model))
    raise not_found("model", model_id, param="model")
