"""`/v1/batches`: create, retrieve, list (`after`/`limit`), cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kluster_agents.integrations.emulator._server.http_errors import bad_request
from kluster_agents.integrations.emulator._server.web import FastJSONResponse, json_body, page, public, runtime

router = APIRouter()


@router.post("/batches")
async def create(request: Request) -> Response:
    body = await json_body(request)
    missing = [k for k in ("input_file_id", "endpoint", "completion_window") if not body.get(k)]
    if missing:
        raise bad_request(f"`{missing[0]}` is required.", param=missing[0])
    batch = runtime(request).batches.create(
        str(body["input_file_id"]), str(body["endpoint"]), str(body["completion_window"]), body.get("metadata")
    )
    return FastJSONResponse(public(batch))


@router.get("/batches")
async def list_batches(request: Request, after: str | None = None, limit: int = 20) -> Response:
    return FastJSONResponse(page(runtime(request).batches.list(), after=after, limit=limit))


@router.get("/batches/{batch_id}")
async def retrieve(batch_id: str, request: Request) -> Response:
    return FastJSONResponse(public(runtime(request).batches.get(batch_id)))


@router.post("/batches/{batch_id}/cancel")
async def cancel(batch_id: str, request: Request) -> Response:
    return FastJSONResponse(public(runtime(request).batches.cancel(batch_id)))
