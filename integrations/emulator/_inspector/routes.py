"""The inspector page: what each framework sent to the emulator and what came back, batch jobs,
Verify checks, fine-tuning loss and fault controls — served at `/inspector/` behind a token.

Server-rendered HTML fragments (escaped in `markup`, `request_view` and `sections`) plus a little
vanilla JavaScript in `inspector_page.html` (the live request list polls `/inspector/api/requests`);
nothing is loaded from the internet. The token comes in the URL the banner prints (`?token=...`, as
notebook servers do) and is then kept in an HttpOnly same-site cookie; without it every route
answers 401. The API key and the MCP token are replaced by `***` wherever they would appear.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from kluster_agents.integrations.emulator._inspector.fault_controls import arm_fault, fault_label
from kluster_agents.integrations.emulator._inspector.request_view import find, logged, request_detail, request_summary
from kluster_agents.integrations.emulator._inspector.sections import SECTIONS
from kluster_agents.integrations.emulator._server.web import runtime as _runtime

PATH = "/inspector"
COOKIE = "kluster_inspector"

router = APIRouter(prefix=PATH, include_in_schema=False)


# -- access -----------------------------------------------------------------------------------------
def _authorized(request: Request) -> bool:
    expected = _runtime(request).inspector_token.encode()
    given = request.query_params.get("token") or request.cookies.get(COOKIE) or ""
    return hmac.compare_digest(given.encode(), expected)


def _denied() -> Response:
    return JSONResponse(
        {
            "error": "Inspector token missing or wrong: open the inspector URL `kluster-agents emulate` printed "
            "(it ends in ?token=...), or Emulator.inspector_url."
        },
        status_code=401,
    )


# -- routes -----------------------------------------------------------------------------------------------
@router.get("/")
async def page(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    html = files("kluster_agents.integrations.emulator._inspector").joinpath("inspector_page.html").read_text("utf-8")
    response = HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    response.set_cookie(COOKIE, _runtime(request).inspector_token, httponly=True, samesite="strict", path=PATH)
    return response


@router.get("/api/requests")
async def requests_json(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    runtime = _runtime(request)
    return JSONResponse(
        {"requests": [request_summary(r) for r in reversed(logged(runtime))], "mode": runtime.controls.mode},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/fragments/request/{ident}")
async def request_fragment(request: Request, ident: int) -> Response:
    if not _authorized(request):
        return _denied()
    runtime = _runtime(request)
    record = find(runtime, ident)
    if record is None:
        return HTMLResponse(f"<p>Request #{ident} is no longer in the log.</p>", status_code=404)
    return HTMLResponse(request_detail(runtime, record))


@router.get("/fragments/{section}")
async def section_fragment(request: Request, section: str) -> Response:
    if not _authorized(request):
        return _denied()
    render = SECTIONS.get(section)
    if render is None:
        return HTMLResponse("<p>Unknown section.</p>", status_code=404)
    return HTMLResponse(render(_runtime(request)), headers={"Cache-Control": "no-store"})


@router.post("/api/faults")
async def post_fault(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    if "application/json" not in request.headers.get("content-type", ""):  # no cross-site form posts
        return JSONResponse({"error": "send JSON"}, status_code=415)
    try:
        form = await request.json()
        fault = arm_fault(_runtime(request), form if isinstance(form, Mapping) else {})
    except (ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"armed": fault_label(fault), "times": fault.times})


@router.post("/api/faults/clear")
async def clear_faults(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    _runtime(request).controls.clear_faults()
    return JSONResponse({"cleared": True})
