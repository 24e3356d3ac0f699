"""`MicroBatchTransport`: an httpx transport that answers `POST /chat/completions` from a
`MicroBatcher` instead of the real-time endpoint.

An LLM whose openai clients use this transport works unchanged (the SDK parses the batch
line's completion as if it came over HTTP), while its calls join Batch API windows. Calls may
come from any thread or event loop; the batcher lives on one loop and is reached thread-safely.
A failed line comes back as an HTTP error response with the line's message, so the SDK raises
its usual status error (build the clients with max_retries=0: a retry would queue a new line).
Compat has already run in the openai client by the time a request gets here.

Early flush: when the transport knows how many independent runs share it (`runs`), it closes
a window as soon as every unfinished run is waiting on the batcher — nobody else could join —
instead of waiting out `max_wait`. Runs that start at different moments (a crew's kickoff
takes a while) still land in one window per step.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Future
from typing import Any

import httpx
from openai.types.chat import ChatCompletion

from kluster_agents.integrations.api.errors import KlusterAPIError, KlusterBatchError, KlusterError
from kluster_agents.integrations.jobs.microbatch import MicroBatcher

_CHAT_PATH = "/chat/completions"


def _error_response(request: httpx.Request, status: int, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, **extra}}, request=request)


def _completion_response(request: httpx.Request, completion: ChatCompletion) -> httpx.Response:
    return httpx.Response(200, json=completion.model_dump(mode="json", exclude_unset=True), request=request)


def _failure_response(request: httpx.Request, exc: KlusterError) -> httpx.Response:
    if isinstance(exc, KlusterAPIError) and exc.status_code:
        return _error_response(request, exc.status_code, exc.message)
    if isinstance(exc, KlusterBatchError):
        return _error_response(request, 502, exc.message, type="kluster_batch_error", custom_id=exc.custom_id)
    return _error_response(request, 502, exc.message, type=type(exc).__name__)


class MicroBatchTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Route chat completions through `batcher`, which runs on `loop` (see the module docstring)."""

    def __init__(self, batcher: MicroBatcher, loop: asyncio.AbstractEventLoop, *, runs: int | None = None) -> None:
        self.batcher = batcher
        self.loop = loop
        self.active_runs = runs
        self._waiting = 0  # calls queued or in flight; touched only on `loop`

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

    async def _complete(self, body: dict[str, Any]) -> ChatCompletion:
        """On `loop`: queue the call; count it as waiting only once its body is in the window."""
        task = self.loop.create_task(self.batcher.complete(body))
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
        body = json.loads(request.content or b"{}")
        if body.get("stream"):
            return _error_response(request, 400, "a batched call cannot stream; use stream=False")
        return body

    def _submit(self, body: dict[str, Any]) -> Future[ChatCompletion]:
        return asyncio.run_coroutine_threadsafe(self._complete(body), self.loop)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = self._body(request)
        if isinstance(body, httpx.Response):
            return body
        if _running_loop() is self.loop:
            raise RuntimeError(
                "a synchronous LLM call on the micro-batcher's own event loop would deadlock; "
                "run the crew in a worker thread (kickoff_for_each_batched does)"
            )
        try:
            return _completion_response(request, self._submit(body).result())
        except KlusterError as exc:
            return _failure_response(request, exc)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = self._body(request)
        if isinstance(body, httpx.Response):
            return body
        try:
            if _running_loop() is self.loop:
                completion = await self._complete(body)
            else:
                completion = await asyncio.wrap_future(self._submit(body))
        except KlusterError as exc:
            return _failure_response(request, exc)
        return _completion_response(request, completion)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
