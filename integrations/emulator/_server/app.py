"""The app factory: the FastAPI app with every route module under `/v1`, OpenAI-style error
bodies for every failure, wrapped in the `Gateway` (log, faults, auth, limits, MCP endpoint)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from kluster_agents.integrations.emulator._cassettes.passthrough import CassetteLayer
from kluster_agents.integrations.emulator._control.controls import EmulatorControls
from kluster_agents.integrations.emulator._inspector import routes as inspector
from kluster_agents.integrations.emulator._routes import batches as routes_batches
from kluster_agents.integrations.emulator._routes import chat as routes_chat
from kluster_agents.integrations.emulator._routes import embeddings as routes_embeddings
from kluster_agents.integrations.emulator._routes import files as routes_files
from kluster_agents.integrations.emulator._routes import finetune as routes_finetune
from kluster_agents.integrations.emulator._routes import mcp_switch as routes_mcp
from kluster_agents.integrations.emulator._routes import models as routes_models
from kluster_agents.integrations.emulator._routes import verify as routes_verify
from kluster_agents.integrations.emulator._routes.mcp_endpoint import LazyMCPEndpoint
from kluster_agents.integrations.emulator._server.gateway import Gateway
from kluster_agents.integrations.emulator._server.http_errors import EmulatorAPIError, error_body
from kluster_agents.integrations.emulator._server.runtime import EmulatorRuntime
from kluster_agents.integrations.emulator._server.web import FastJSONResponse


def create_app(
    *, api_key: str, controls: EmulatorControls | None = None, state_path: str | Path | None = None
) -> tuple[Gateway, EmulatorRuntime]:
    """Build the emulator's ASGI app and the runtime it serves (controls default to strict/core)."""
    runtime = EmulatorRuntime(api_key=api_key, controls=controls or EmulatorControls(), state_path=state_path)
    mcp_endpoint = LazyMCPEndpoint(runtime.verify)  # the MCP SDK loads on the first /v1/mcp request

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await mcp_endpoint.aclose()

    app = FastAPI(
        title="kluster.ai emulator (EMULATED, not the real service)",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    # The API's routes go on the app itself, not as included routers: FastAPI dispatches an included
    # router through a second route lookup on every request (~5% of a small request's CPU here). The
    # route modules declare plain routes (no dependencies, tags or response classes) to make that safe.
    for module in (
        routes_chat,
        routes_embeddings,
        routes_models,
        routes_files,
        routes_batches,
        routes_finetune,
        routes_verify,
        routes_mcp,
    ):
        for route in module.router.routes:
            if not isinstance(route, APIRoute):
                raise TypeError(f"{module.__name__}: only API routes can be added to the app, not {route!r}")
            app.add_api_route(f"/v1{route.path}", route.endpoint, methods=sorted(route.methods or ()), name=route.name)
    app.include_router(inspector.router)  # /inspector/ (its own token; the gateway passes it through)

    @app.exception_handler(EmulatorAPIError)
    async def _api_error(_: Request, exc: EmulatorAPIError) -> Response:
        return FastJSONResponse(exc.payload(), status_code=exc.status_code or 500, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        code = "not_found" if exc.status_code == 404 else None
        return FastJSONResponse(error_body(str(exc.detail), code=code), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return FastJSONResponse(
            error_body(f"Invalid request: {first.get('msg', 'bad input')}", param=param), status_code=400
        )

    # the cassette layer is a catch-all in front of the routes: transparent unless a cassette is loaded
    return Gateway(CassetteLayer(app, runtime), runtime, mcp_endpoint), runtime
