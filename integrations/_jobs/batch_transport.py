"""The one batch-mode seam: `MicroBatchTransport`, an httpx transport that answers
`POST /chat/completions` from a `MicroBatcher` instead of the real-time endpoint, and the
factories that put kluster openai clients on it (`make_batch_client`, `make_async_batch_client`).

Every adapter's batch mode (LangChain `batch=True`, CrewAI `kickoff_for_each_batched`,
PydanticAI `run_many`) is the framework's ordinary code on such a client: the SDK parses the
batch line's completion as if it came over HTTP, while the calls join Batch API windows. Calls
may come from any thread or event loop; the batcher lives on one loop and is reached
thread-safely. A failed line comes back as an HTTP error response with the line's message, so
the SDK raises its usual status error (the clients have max_retries=0: a retry would queue a
new line). Compat runs once, in the kluster openai client, before a request gets here; the
transport hands the body on as is (`compat_applied=True`). A caller may name its line with
the `X-Kluster-Batch-Custom-Id` header and place it in the window's line order with
`X-Kluster-Batch-Position` (neither header leaves the process).

Early flush: when the transport knows how many independent runs share it (`runs`), it closes
a window as soon as every unfinished run is waiting on the batcher — nobody else could join —
instead of waiting out `max_wait`. Runs that start at different moments (a crew's kickoff
takes a while) still land in one window per step.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import weakref
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from openai.types.chat import ChatCompletion

from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.errors import KlusterAPIError, KlusterBatchError, KlusterError
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._jobs.microbatch import MicroBatcher

if TYPE_CHECKING:
    from kluster_agents.integrations._api.kluster_openai import AsyncKlusterOpenAI, KlusterOpenAI

_CHAT_PATH = "/chat/completions"
BATCH_CUSTOM_ID_HEADER = "X-Kluster-Batch-Custom-Id"
BATCH_POSITION_HEADER = "X-Kluster-Batch-Position"
BATCH_ERROR_TYPE = "kluster_batch_error"
_ERROR_REF = "kluster_error_ref"
# A line's own error object (a duplicate's answers, a timeout's type) by the reference its error response
# carries, so `batch_error_from` hands the caller that very error; kept alive by its transport.
_ORIGINALS: weakref.WeakValueDictionary[str, KlusterError] = weakref.WeakValueDictionary()


def _error_response(request: httpx.Request, status: int, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, **extra}}, request=request)


def _completion_response(request: httpx.Request, completion: ChatCompletion) -> httpx.Response:
    return httpx.Response(200, json=completion.model_dump(mode="json", exclude_unset=True), request=request)


def _failure_response(request: httpx.Request, exc: KlusterError, ref: str) -> httpx.Response:
    if isinstance(exc, KlusterAPIError) and exc.status_code:
        return _error_response(request, exc.status_code, exc.message, **{_ERROR_REF: ref})
    if isinstance(exc, KlusterBatchError):
        return _error_response(
            request,
            502,
            exc.message,
            type=BATCH_ERROR_TYPE,
            custom_id=exc.custom_id,
            batch_id=exc.batch_id,
            **{_ERROR_REF: ref},
        )
    return _error_response(request, 502, exc.message, type=type(exc).__name__, **{_ERROR_REF: ref})


@dataclass(frozen=True)
class _Line:
    custom_id: str | None
    position: int | None

    @classmethod
    def of(cls, request: httpx.Request) -> _Line:
        position = request.headers.get(BATCH_POSITION_HEADER)
        return cls(request.headers.get(BATCH_CUSTOM_ID_HEADER), int(position) if position else None)


class MicroBatchTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Route chat completions through `batcher`, which runs on `loop` (see the module docstring)."""

    def __init__(self, batcher: MicroBatcher, loop: asyncio.AbstractEventLoop, *, runs: int | None = None) -> None:
        self.batcher = batcher
        self.loop = loop
        self.active_runs = runs
        self._waiting = 0  # calls queued or in flight; touched only on `loop`
        self._failures: list[KlusterError] = []  # the lines' errors, alive while the run's callers read them

    def _failure(self, request: httpx.Request, exc: KlusterError) -> httpx.Response:
        ref = uuid.uuid4().hex
        _ORIGINALS[ref] = exc
        self._failures.append(exc)
        return _failure_response(request, exc, ref)

    def run_finished(self) -> None:
        """One run is done (call on `loop`): the others may now all be waiting."""
        if self.active_runs is not None:
            self.active_runs -= 1
            self._flush_if_all_waiting()

    def _flush_if_all_waiting(self) -> None:
        if self.active_runs is not None and self._waiting and self._waiting >= self.active_runs:
            self.batcher.flush()

    def _joined(self) -> None:
        self._waiting += 1
        self._flush_if_all_waiting()

    async def _complete(self, body: dict[str, Any], line: _Line) -> ChatCompletion:
        """On `loop`: queue the call; count it as waiting only once its body is in the window."""
        task = self.loop.create_task(
            self.batcher.complete(body, custom_id=line.custom_id, position=line.position, compat_applied=True)
        )
        self.loop.call_soon(self._joined)  # runs right after the task's first step queued the body
        try:
            return await task
        finally:
            self._waiting -= 1

    def _body(self, request: httpx.Request) -> dict[str, Any] | httpx.Response:
        if request.method != "POST" or not request.url.path.endswith(_CHAT_PATH):
            return _error_response(
                request, 501, f"only chat completions can be batched, not {request.method} {request.url.path}"
            )
        body: dict[str, Any] = json.loads(request.content or b"{}")
        if body.pop("stream", None):
            return _error_response(request, 400, "a batched call cannot stream; use stream=False")
        return body

    def _submit(self, body: dict[str, Any], line: _Line) -> Future[ChatCompletion]:
        return asyncio.run_coroutine_threadsafe(self._complete(body, line), self.loop)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = self._body(request)
        if isinstance(body, httpx.Response):
            return body
        line = _Line.of(request)
        if _running_loop() is self.loop:
            raise RuntimeError(
                "a synchronous LLM call on the micro-batcher's own event loop would deadlock; "
                "make synchronous calls from a worker thread (kickoff_for_each_batched does)"
            )
        try:
            return _completion_response(request, self._submit(body, line).result())
        except KlusterError as exc:
            return self._failure(request, exc)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = self._body(request)
        if isinstance(body, httpx.Response):
            return body
        line = _Line.of(request)
        try:
            if _running_loop() is self.loop:
                completion = await self._complete(body, line)
            else:
                completion = await asyncio.wrap_future(self._submit(body, line))
        except KlusterError as exc:
            return self._failure(request, exc)
        return _completion_response(request, completion)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def batch_http_clients(transport: MicroBatchTransport) -> tuple[httpx.Client, httpx.AsyncClient]:
    """A sync and an async httpx client on `transport` (for frameworks that build their own openai clients)."""
    return httpx.Client(transport=transport), httpx.AsyncClient(transport=transport)


def make_batch_client(transport: MicroBatchTransport, settings: KlusterSettings | None = None) -> KlusterOpenAI:
    """A kluster openai client (compat applied once, in the client) whose chat completions join
    `transport`'s batcher; max_retries=0, since a retry would queue a second line."""
    return make_client(
        settings or transport.batcher.settings, http_client=httpx.Client(transport=transport), max_retries=0
    )


def make_async_batch_client(
    transport: MicroBatchTransport, settings: KlusterSettings | None = None
) -> AsyncKlusterOpenAI:
    """The async twin of `make_batch_client`."""
    return make_async_client(
        settings or transport.batcher.settings, http_client=httpx.AsyncClient(transport=transport), max_retries=0
    )


def batch_error_from(exc: BaseException) -> KlusterError | None:
    """The `KlusterError` of a failed batch line (a `KlusterBatchError`, or the job's
    `KlusterTimeoutError`...), found from the SDK error the transport's answer became (also when a
    framework wrapped it: the cause chain is searched); None for any other error. Adapters re-raise it
    so a failed line surfaces as the line's own error."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:  # a chain can loop back on itself
        visited.add(id(seen))
        found = _line_error(getattr(seen, "response", None))
        if found is not None:
            return found
        seen = seen.__cause__ or seen.__context__
    return None


def _line_error(response: Any) -> KlusterError | None:
    if not isinstance(response, httpx.Response):
        return None
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return None
    if not isinstance(error, dict):
        return None
    original = _ORIGINALS.get(str(error.get(_ERROR_REF)))
    if original is not None:
        return original
    if response.status_code != 502 or error.get("type") != BATCH_ERROR_TYPE:
        return None
    return KlusterBatchError(
        str(error.get("message", "")), custom_id=error.get("custom_id"), batch_id=error.get("batch_id")
    )
