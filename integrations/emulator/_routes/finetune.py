"""`/v1/fine_tuning/jobs`: create, retrieve, list, cancel, events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kluster_agents.integrations.emulator._server.web import FastJSONResponse, json_body, page, public, runtime

router = APIRouter()


@router.post("/fine_tuning/jobs")
async def create(request: Request) -> Response:
    return FastJSONResponse(public(runtime(request).finetunes.create(await json_body(request))))


@router.get("/fine_tuning/jobs")
async def list_jobs(request: Request, after: str | None = None, limit: int = 20) -> Response:
    return FastJSONResponse(page(runtime(request).finetunes.list(), after=after, limit=limit))


@router.get("/fine_tuning/jobs/{job_id}")
async def retrieve(job_id: str, request: Request) -> Response:
    return FastJSONResponse(public(runtime(request).finetunes.get(job_id)))


@router.post("/fine_tuning/jobs/{job_id}/cancel")
async def cancel(job_id: str, request: Request) -> Response:
    return FastJSONResponse(public(runtime(request).finetunes.cancel(job_id)))


@router.get("/fine_tuning/jobs/{job_id}/events")
async def events(job_id: str, request: Request, after: str | None = None, limit: int = 20) -> Response:
    return FastJSONResponse(page(runtime(request).finetunes.events(job_id), after=after, limit=limit))
