"""`/v1/files` (multipart upload, retrieve, content, list, delete) and `/v1/uploads` (create,
parts, complete, cancel) for files over the single-upload size."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from kluster_agents.integrations.emulator._server.http_errors import bad_request
from kluster_agents.integrations.emulator._server.web import (
    FastJSONResponse,
    emulated,
    json_body,
    page,
    public,
    runtime,
)

router = APIRouter()
MAX_UPLOAD_BYTES = 8 * 1024**3  # OpenAI's Uploads API limit; a declared size beyond it is refused up front


@router.post("/files")
async def upload(request: Request, file: UploadFile = File(...), purpose: str = Form(...)) -> Response:
    content = await file.read()
    return FastJSONResponse(emulated(runtime(request).files.upload(content, file.filename or "upload", purpose)))


@router.get("/files")
async def list_files(
    request: Request, purpose: str | None = None, after: str | None = None, limit: int = 100
) -> Response:
    return FastJSONResponse(page(runtime(request).files.list(purpose), after=after, limit=limit, max_limit=10_000))


@router.get("/files/{file_id}")
async def retrieve(file_id: str, request: Request) -> Response:
    return FastJSONResponse(emulated(runtime(request).files.get(file_id)))


@router.get("/files/{file_id}/content")
async def content(file_id: str, request: Request) -> Response:
    # Streamed in blocks: a tier-size batch output is never held in memory (404 before any byte).
    files = runtime(request).files
    size = files.get(file_id)["bytes"]
    return StreamingResponse(
        files.iter_content(file_id), media_type="application/octet-stream", headers={"content-length": str(size)}
    )


@router.delete("/files/{file_id}")
async def delete(file_id: str, request: Request) -> Response:
    return FastJSONResponse(emulated(runtime(request).files.delete(file_id)))


@router.post("/uploads")
async def create_upload(request: Request) -> Response:
    body = await json_body(request)
    try:
        args = (str(body["filename"]), str(body["purpose"]), body["bytes"], str(body.get("mime_type", "")))
    except KeyError:
        raise bad_request("`filename`, `purpose` and `bytes` are required.") from None
    size = args[2]
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_UPLOAD_BYTES:
        raise bad_request(f"`bytes` must be an integer from 1 to {MAX_UPLOAD_BYTES} (8 GB).", param="bytes")
    return FastJSONResponse(public(runtime(request).files.create_upload(*args)))


@router.post("/uploads/{upload_id}/parts")
async def add_part(upload_id: str, request: Request, data: UploadFile = File(...)) -> Response:
    return FastJSONResponse(emulated(runtime(request).files.add_part(upload_id, await data.read())))


@router.post("/uploads/{upload_id}/complete")
async def complete(upload_id: str, request: Request) -> Response:
    body = await json_body(request)
    part_ids = body.get("part_ids")
    if not isinstance(part_ids, list):
        raise bad_request("`part_ids` must be a list.", param="part_ids")
    return FastJSONResponse(public(runtime(request).files.complete_upload(upload_id, part_ids)))


@router.post("/uploads/{upload_id}/cancel")
async def cancel(upload_id: str, request: Request) -> Response:
    return FastJSONResponse(public(runtime(request).files.cancel_upload(upload_id)))
