"""The HTTP clients of the shared pools: each real-time request admitted through its model's
`RateLimiter`, stamped when sent, its slot held until its response is closed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx

from kluster_agents.integrations._api.limiter_registry import LimitScope, limiter_for_request
from kluster_agents.integrations._api.limits import Hold, holds

_SENT_EVENT = "send_request_body.complete"  # httpcore's trace event (http11. or http2. prefix)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


Trace = Callable[[str, dict[str, Any]], None]
AsyncTrace = Callable[[str, dict[str, Any]], Awaitable[None]]


def _stamping_trace(hold: Hold, inner: Trace | None) -> Trace:
    """An httpcore `trace` extension that stamps `hold` as sent once the request body is written (then
    calls the caller's own trace, if any): the request reaches the server within `RPM_MARGIN_S` of
    that, whatever the pool wait or connect took."""

    def trace(name: str, info: dict[str, Any]) -> None:
        if name.endswith(_SENT_EVENT):
            hold.sent()
        if inner is not None:
            inner(name, info)

    return trace


def _async_stamping_trace(hold: Hold, inner: AsyncTrace | None) -> AsyncTrace:
    async def trace(name: str, info: dict[str, Any]) -> None:
        if name.endswith(_SENT_EVENT):
            hold.sent()
        if inner is not None:
            await inner(name, info)

    return trace


def _restore_trace(request: httpx.Request, inner: object) -> None:
    if inner is None:
        request.extensions.pop("trace", None)
    else:
        request.extensions["trace"] = inner


class _ReleasingStream(httpx.SyncByteStream):
    """Frees the request's slot when the body is closed, fails, or the response is garbage-collected
    (a stream the caller abandoned must not hold a slot for the rest of the process)."""

    def __init__(self, inner: httpx.SyncByteStream, hold: Hold) -> None:
        self._inner, self._hold = inner, hold

    def __del__(self) -> None:
        self._hold.release()

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except BaseException:
            self._hold.release()
            raise

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._hold.release()


class _AsyncReleasingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, hold: Hold) -> None:
        self._inner, self._hold = inner, hold

    def __del__(self) -> None:
        self._hold.release()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except BaseException:
            self._hold.release()
            raise

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._hold.release()


class RateLimitedClient(httpx.Client):
    """An `httpx.Client` that admits each real-time request through its model's shared `RateLimiter`.

    The gate sits in `send` rather than in a custom transport because httpx turns off its proxy
    support (HTTP(S)_PROXY, NO_PROXY) for clients built with a transport. A request is stamped in the
    RPM window when its body is written (httpcore's `trace` extension) and again, earlier if it comes
    within the margin, when its response headers come back; it holds its concurrency slot
    until its response is closed (a stream: until it is read to the end or closed); a 429 that
    still happens is counted (`RateLimiter.rate_limited`) and retried by the SDK after its Retry-After."""

    def __init__(self, scope: LimitScope, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit_scope = scope

    def send(self, request: httpx.Request, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        limiter = limiter_for_request(request, self.limit_scope)
        if limiter is None or holds(limiter):
            return super().send(request, stream=stream, **kwargs)
        hold = limiter.acquire()
        stamps = bool(limiter.rpm)  # without an RPM limit there is no send time to stamp: no trace hook
        inner = request.extensions.get("trace")
        if stamps:
            request.extensions["trace"] = _stamping_trace(hold, inner)
        try:
            response = super().send(request, stream=True, **kwargs)
        except BaseException:
            hold.release()
            raise
        finally:
            if stamps:
                _restore_trace(request, inner)
        hold.answered()  # headers are back: the service counted it by now
        if response.status_code == 429:
            try:
                response.read()  # a short error body that names the limit (reading it closes the response)
            finally:
                hold.release()
            limiter.saw_429(_retry_after(response), hold, response.text)
        if not stream:  # read and closed here: the slot is free once it is (no stream wrapper to watch it)
            try:
                response.read()
            finally:
                try:
                    response.close()
                finally:
                    hold.release()
            return response
        response.stream = _ReleasingStream(response.stream, hold)  # type: ignore[arg-type]
        return response


class AsyncRateLimitedClient(httpx.AsyncClient):
    """The async twin of `RateLimitedClient` (same limiters: sync and async share one budget)."""

    def __init__(self, scope: LimitScope, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit_scope = scope

    async def send(self, request: httpx.Request, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        limiter = limiter_for_request(request, self.limit_scope)
        if limiter is None or holds(limiter):
            return await super().send(request, stream=stream, **kwargs)
        hold = await limiter.aacquire()
        stamps = bool(limiter.rpm)  # without an RPM limit there is no send time to stamp: no trace hook
        inner = request.extensions.get("trace")
        if stamps:
            request.extensions["trace"] = _async_stamping_trace(hold, inner)
        try:
            response = await super().send(request, stream=True, **kwargs)
        except BaseException:
            hold.release()
            raise
        finally:
            if stamps:
                _restore_trace(request, inner)
        hold.answered()  # headers are back: the service counted it by now
        if response.status_code == 429:
            try:
                await response.aread()  # a short error body that names the limit (reading it closes the response)
            finally:
                hold.release()
            limiter.saw_429(_retry_after(response), hold, response.text)
        if not stream:  # as in `RateLimitedClient.send`
            try:
                await response.aread()
            finally:
                try:
                    await response.aclose()
                finally:
                    hold.release()
            return response
        response.stream = _AsyncReleasingStream(response.stream, hold)  # type: ignore[arg-type]
        return response
