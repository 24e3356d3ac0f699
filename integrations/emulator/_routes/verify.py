"""`POST /v1/verify/reliability`: recorded answers or the labelled heuristic (chat-completion
Verify with `klusterai/verify-reliability` goes through the chat route and the reply engine)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kluster_agents.integrations.emulator._server.http_errors import bad_request
from kluster_agents.integrations.emulator._server.web import FastJSONResponse, emulated, json_body, runtime

router = APIRouter()


@router.post("/verify/reliability")
async def reliability(request: Request) -> Response:
    body = await json_body(request)
    for field in ("prompt", "output"):
        if not isinstance(body.get(field), str):
            raise bad_request(f"`{field}` is required and must be a string.", param=field)
    context = body.get("context")
    if context is not None and not isinstance(context, str):
        raise bad_request("`context` must be a string.", param="context")
    result = runtime(request).verifier.check(
        body["prompt"], body["output"], context, bool(body.get("return_search_results", False))
    )
    return FastJSONResponse(emulated(result))
