"""LiteLLM's batch functions against kluster.ai's real batch objects.

LiteLLM turns every batch answer into `LiteLLMBatch.model_validate(...)`, openai's strict
`Batch` schema. The live service does not fit it (observed facts in `tests/fidelity/observed.py`):
a new batch's status is `pre_schedule` (not in openai's status literal) and `errors` is `[]`
(a list, where the schema wants an object), so `litellm.create_batch` / `retrieve_batch` /
`cancel_batch` would raise a pydantic `ValidationError` on every call. And openai's bodiless
`POST .../cancel` is answered HTTP 500 by the service.

The fix sits on the HTTP client LiteLLM builds for its openai batch calls, only for base URLs
that `batch_kwargs()` has aimed at kluster: a transport that

- sends `{}` as the body of a bodiless `POST .../cancel`;
- rewrites each batch object in a `/batches` answer into LiteLLM's view: a status outside
  openai's literal becomes one it accepts (`pre_schedule` -> `validating`, the step openai
  names for "accepted, not yet running"; any other unknown status -> `in_progress`, so nothing
  unknown looks finished), `errors: []` -> `null` and a non-empty list -> `{"object": "list",
  "data": [...]}`. The service's own status stays readable as `batch.kluster_status` (see
  `kluster_status()`).
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import Callable
from typing import Any

import httpx
import openai

OPENAI_BATCH_STATUSES = frozenset(
    {"validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"}
)
STATUS_VIEW = {"pre_schedule": "validating"}
KLUSTER_STATUS_FIELD = "kluster_status"
_UNKNOWN_STATUS_VIEW = "in_progress"

_lock = threading.Lock()
_kluster_bases: set[str] = set()
_installed = False


def litellm_batch_view(batch: dict[str, Any]) -> dict[str, Any]:
    """One kluster batch object as openai's strict `Batch` schema accepts it (see module doc)."""
    out = dict(batch)
    status = out.get("status")
    if isinstance(status, str) and status not in OPENAI_BATCH_STATUSES:
        out.setdefault(KLUSTER_STATUS_FIELD, status)
        out["status"] = STATUS_VIEW.get(status, _UNKNOWN_STATUS_VIEW)
    elif isinstance(status, str):
        out.setdefault(KLUSTER_STATUS_FIELD, status)
    errors = out.get("errors")
    if isinstance(errors, list):
        out["errors"] = {"object": "list", "data": errors} if errors else None
    return out


def kluster_status(batch: Any) -> str | None:
    """The service's own status of a batch LiteLLM returned (e.g. `pre_schedule`)."""
    real = getattr(batch, KLUSTER_STATUS_FIELD, None)
    return real if isinstance(real, str) else getattr(batch, "status", None)


def _is_batch_path(path: str) -> bool:
    return "/batches" in path


def _is_bodiless_cancel(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/cancel") and not request.content


def _with_json_body(request: httpx.Request) -> httpx.Request:
    headers = httpx.Headers(request.headers)
    headers.pop("content-length", None)
    headers["content-type"] = "application/json"
    return httpx.Request(request.method, request.url, headers=headers, content=b"{}", extensions=request.extensions)


def _rewritten(body: bytes) -> bytes | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if data.get("object") == "batch":
        return json.dumps(litellm_batch_view(data)).encode()
    if data.get("object") == "list" and isinstance(data.get("data"), list):
        items = [
            litellm_batch_view(b) if isinstance(b, dict) and b.get("object") == "batch" else b for b in data["data"]
        ]
        return json.dumps({**data, "data": items}).encode()
    return None


def _response(request: httpx.Request, response: httpx.Response, content: bytes) -> httpx.Response:
    headers = httpx.Headers(response.headers)
    for name in ("content-length", "content-encoding", "transfer-encoding"):
        headers.pop(name, None)
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=content,
        request=request,
        extensions={k: v for k, v in response.extensions.items() if k != "network_stream"},
    )


def _needs_rewrite(request: httpx.Request, response: httpx.Response) -> bool:
    return (
        _is_batch_path(request.url.path) and response.is_success and "json" in response.headers.get("content-type", "")
    )


class LenientBatchTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Wraps httpx's own transports: `{}` for bodiless cancels, batch objects in LiteLLM's view."""

    def __init__(self, sync: httpx.BaseTransport | None = None, async_: httpx.AsyncBaseTransport | None = None) -> None:
        self._sync = sync or httpx.HTTPTransport()
        self._async = async_ or httpx.AsyncHTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if _is_bodiless_cancel(request):
            request = _with_json_body(request)
        response = self._sync.handle_request(request)
        if not _needs_rewrite(request, response):
            return response
        try:
            body = response.read()
        finally:
            response.close()
        rewritten = _rewritten(body)
        return _response(request, response, rewritten if rewritten is not None else body)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if _is_bodiless_cancel(request):
            request = _with_json_body(request)
        response = await self._async.handle_async_request(request)
        if not _needs_rewrite(request, response):
            return response
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        rewritten = _rewritten(body)
        return _response(request, response, rewritten if rewritten is not None else body)

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()


def _normal_base(url: str) -> str:
    return url.rstrip("/")


def is_kluster_base(url: str | httpx.URL | None) -> bool:
    """Whether `url` is a base URL `batch_kwargs()` aimed LiteLLM's batch functions at."""
    return url is not None and _normal_base(str(url)) in _kluster_bases


_sync_http: httpx.Client | None = None
_async_http: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def _lenient_http_client(is_async: bool) -> httpx.Client | httpx.AsyncClient:
    """One lenient pool per process (sync) and per event loop (async); LiteLLM itself would build a
    fresh openai client, and so a fresh connection pool, for every call."""
    global _sync_http
    with _lock:
        if not is_async:
            if _sync_http is None or _sync_http.is_closed:
                _sync_http = httpx.Client(transport=LenientBatchTransport(), follow_redirects=True)
            return _sync_http
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # LiteLLM builds async clients inside the loop; a loop-less caller gets its own pool
            return httpx.AsyncClient(transport=LenientBatchTransport(), follow_redirects=True)
        pool = _async_http.get(loop)
        if pool is None or pool.is_closed:
            pool = httpx.AsyncClient(transport=LenientBatchTransport(), follow_redirects=True)
            _async_http[loop] = pool
        return pool


def _lenient(client: Any) -> Any:
    return client.with_options(http_client=_lenient_http_client(isinstance(client, openai.AsyncOpenAI)))


def install(base_url: str) -> None:
    """Make LiteLLM's openai batch calls to `base_url` lenient (idempotent, process-wide).

    Wraps `OpenAIBatchesAPI.get_openai_client`, the one place LiteLLM builds the openai client for
    `create/retrieve/cancel/list_batch` (it accepts no client or transport from the caller);
    clients for other base URLs, and clients a caller passes in, are left untouched.
    """
    global _installed
    from litellm.llms.openai.openai import OpenAIBatchesAPI

    with _lock:
        _kluster_bases.add(_normal_base(base_url))
        if _installed:
            return
        original: Callable[..., Any] = OpenAIBatchesAPI.get_openai_client

        def get_openai_client(self: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(self, *args, **kwargs)
            if client is None or kwargs.get("client") is not None or not is_kluster_base(client.base_url):
                return client
            return _lenient(client)

        OpenAIBatchesAPI.get_openai_client = get_openai_client  # type: ignore[method-assign]
        _installed = True
