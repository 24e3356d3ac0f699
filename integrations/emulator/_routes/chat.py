"""`POST /v1/chat/completions`: validation per fidelity mode, the reply engine, JSON or SSE
(with the truncated-stream fault), and adaptive `@kluster.ai` async requests.

Observed (2025-08, twice): `klusterai/verify-reliability` called with `[system, user, assistant]`
messages — the exact shape of the docs' "Chat completion Verify API" example — answered HTTP 500
`{"error": {"message": "Unexpected error occurred", "errorCode": 4000, "type": "invalid_request_error"}}`.
The default modes reproduce that for that shape; `docs-strict` answers as documented."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kluster_agents.integrations._api.catalog import VERIFY_MODEL
from kluster_agents.integrations.emulator._json import dumps
from kluster_agents.integrations.emulator._model.replies import Reply
from kluster_agents.integrations.emulator._model.shapes import chat_completion, stream_chunks
from kluster_agents.integrations.emulator._routes.fidelity import validate_chat_request
from kluster_agents.integrations.emulator._server.http_errors import observed_error
from kluster_agents.integrations.emulator._server.web import (
    EventStreamResponse,
    FastJSONResponse,
    json_body,
    runtime,
)

router = APIRouter()
VERIFY_CHAT_ERROR = {
    "error": {"message": "Unexpected error occurred", "errorCode": 4000, "type": "invalid_request_error"}
}
VERIFY_CHAT_FAILING_ROLES = ["system", "user", "assistant"]


@router.post("/chat/completions")
async def create_chat_completion(request: Request) -> Response:
    rt = runtime(request)
    body = await json_body(request)
    controls = rt.controls
    info = validate_chat_request(
        body,
        mode=controls.mode,
        tier=controls.tier,
        lookup=rt.lookup_model,
        accept_stream_options=controls.accept_stream_options,
    )
    if (
        controls.mode != "docs-strict"
        and body["model"] == VERIFY_MODEL
        and [m.get("role") for m in body["messages"]] == VERIFY_CHAT_FAILING_ROLES
    ):
        raise observed_error(500, VERIFY_CHAT_ERROR)
    metadata = body.get("metadata")
    options = metadata.get("@kluster.ai") if isinstance(metadata, Mapping) else None
    if isinstance(options, Mapping) and options.get("async"):
        return FastJSONResponse(rt.batches.submit_adaptive(body, options))
    reply = rt.replies.reply(body, info)
    created = int(controls.clock.now())
    if body.get("stream"):
        truncate = controls.faults.take("truncate", request.url.path)
        limit = truncate.after_chunks if truncate is not None else None
        options = body.get("stream_options")
        usage_of = body["messages"] if isinstance(options, Mapping) and options.get("include_usage") else None
        return EventStreamResponse(_sse(body["model"], reply, created, limit, usage_of))
    return FastJSONResponse(chat_completion(body["model"], body["messages"], reply, created))


def _sse(model: str, reply: Reply, created: int, limit: int | None, usage_of: list[Any] | None) -> Iterator[bytes]:
    for index, chunk in enumerate(stream_chunks(model, reply, created, usage_of=usage_of)):
        if limit is not None and index >= limit:
            return  # injected fault: the stream stops mid-way, without the finish chunk and [DONE]
        yield b"data: " + dumps(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"
