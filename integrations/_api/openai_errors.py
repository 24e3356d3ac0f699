"""openai exceptions as `KlusterError`s that are *also* the openai (or framework) exception type callers
already catch and retry — `KlusterOpenAIAuthError` is a `KlusterAuthError` and an `openai.AuthenticationError`
— plus the stream and response checks that turn a truncated stream or a malformed 200 into a typed error.
Secrets echoed by a server are scrubbed from every error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, Protocol, cast

import httpx
import openai
from openai._legacy_response import LegacyAPIResponse
from openai._models import is_basemodel
from openai.types.chat import ChatCompletion

from kluster_agents.integrations._api.errors import (
    KlusterAuthError,
    KlusterBadRequestError,
    KlusterConnectionError,
    KlusterError,
    KlusterNotFoundError,
    KlusterRateLimitError,
    KlusterResponseError,
    KlusterServerError,
    KlusterStreamError,
    KlusterTimeoutError,
    from_openai_error,
    redact,
    scrub_exception,
)


class _OpenAITwin(Exception):
    # openai's APIError assigns `self.message`; KlusterError exposes it as a read-only property.
    message: str = ""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.message


class KlusterOpenAIBadRequestError(_OpenAITwin, KlusterBadRequestError, openai.BadRequestError):  # type: ignore[misc]  # both bases declare status_code/code; the twin sets both
    """HTTP 400/413/422 as both a `KlusterBadRequestError` and an `openai.BadRequestError`."""


class KlusterOpenAIUnprocessableError(_OpenAITwin, KlusterBadRequestError, openai.UnprocessableEntityError):  # type: ignore[misc]  # both bases declare status_code/code; the twin sets both
    """HTTP 422 as both a `KlusterBadRequestError` and an `openai.UnprocessableEntityError`."""


class KlusterOpenAIAuthError(_OpenAITwin, KlusterAuthError, openai.AuthenticationError):  # type: ignore[misc]  # both bases declare status_code/code; the twin sets both
    """HTTP 401 as both a `KlusterAuthError` and an `openai.AuthenticationError`."""


class KlusterOpenAIPermissionError(_OpenAITwin, KlusterAuthError, openai.PermissionDeniedError):  # type: ignore[misc]  # both bases declare status_code/code; the twin sets both
    """HTTP 403 as both a `KlusterAuthError` and an `openai.PermissionDeniedError`."""


class KlusterOpenAINotFoundError(_OpenAITwin, KlusterNotFoundError, openai.NotFoundError):  # type: ignore[misc]  # both bases declare status_code/code; the twin sets both
    """HTTP 404 as both a `KlusterNotFoundError` and an `openai.NotFoundError`."""


class KlusterOpenAIRateLimitError(_OpenAITwin, KlusterRateLimitError, openai.RateLimitError):  # type: ignore[misc]  # both bases declare status_code/code; the twin sets both
    """HTTP 429 as both a `KlusterRateLimitError` and an `openai.RateLimitError`."""


class KlusterOpenAIServerError(_OpenAITwin, KlusterServerError, openai.InternalServerError):  # type: ignore[misc]  # both bases declare status_code/code; the twin sets both
    """HTTP 5xx as both a `KlusterServerError` and an `openai.InternalServerError`."""


class KlusterOpenAIStatusError(_OpenAITwin, KlusterBadRequestError, openai.APIStatusError):  # type: ignore[misc]  # both bases declare status_code/code; the twin sets both
    """Any other 4xx status (408, 409, 413...) as both a `KlusterBadRequestError` and an `openai.APIStatusError`."""


class KlusterOpenAITimeoutError(_OpenAITwin, KlusterTimeoutError, openai.APITimeoutError):
    """A request timeout as both a `KlusterTimeoutError` and an `openai.APITimeoutError`."""


class KlusterOpenAIConnectionError(_OpenAITwin, KlusterConnectionError, openai.APIConnectionError):
    """An unreachable service as both a `KlusterConnectionError` and an `openai.APIConnectionError`."""


class KlusterOpenAIStreamError(_OpenAITwin, KlusterStreamError, openai.APIConnectionError):
    """A truncated/broken stream as both a `KlusterStreamError` and an `openai.APIConnectionError` (so
    retry logic that retries dropped connections retries it)."""


class KlusterOpenAIResponseError(_OpenAITwin, KlusterResponseError, openai.APIResponseValidationError):
    """A malformed 200 answer as both a `KlusterResponseError` and an `openai.APIResponseValidationError`."""


_STATUS_TWINS: list[tuple[type[openai.APIStatusError], type[_OpenAITwin]]] = [
    (openai.BadRequestError, KlusterOpenAIBadRequestError),
    (openai.UnprocessableEntityError, KlusterOpenAIUnprocessableError),
    (openai.AuthenticationError, KlusterOpenAIAuthError),
    (openai.PermissionDeniedError, KlusterOpenAIPermissionError),
    (openai.NotFoundError, KlusterOpenAINotFoundError),
    (openai.RateLimitError, KlusterOpenAIRateLimitError),
    (openai.InternalServerError, KlusterOpenAIServerError),
]


def _placeholder_request(client: Any) -> httpx.Request:
    return httpx.Request("POST", f"{str(getattr(client, 'base_url', '')).rstrip('/')}/chat/completions")


def openai_twin(exc: BaseException, client: Any = None) -> BaseException:
    """The `KlusterError` twin of an openai/transport/decoding failure (secrets scrubbed from the
    original, which stays as `__cause__`); anything else is returned unchanged."""
    if isinstance(exc, KlusterError):
        return exc
    if not isinstance(exc, openai.OpenAIError | json.JSONDecodeError | httpx.HTTPError):
        return exc
    scrub_exception(exc)
    if isinstance(exc, httpx.TimeoutException):
        exc = openai.APITimeoutError(request=exc.request if _has_request(exc) else _placeholder_request(client))
    elif isinstance(exc, httpx.HTTPError):
        request = exc.request if _has_request(exc) else _placeholder_request(client)
        exc = openai.APIConnectionError(message=str(exc), request=request)
    kluster = from_openai_error(exc)
    twin: BaseException
    if isinstance(exc, openai.APIStatusError):
        cls: type[Any] = next((t for o, t in _STATUS_TWINS if isinstance(exc, o)), KlusterOpenAIStatusError)
        if cls is KlusterOpenAIStatusError and exc.status_code >= 500:
            cls = KlusterOpenAIServerError
        status_twin: Any = Exception.__new__(cls)
        openai.APIStatusError.__init__(status_twin, kluster.message, response=exc.response, body=_kluster_body(kluster))
        status_twin.request_id = getattr(kluster, "request_id", None)
        status_twin.code = getattr(kluster, "code", None)  # read from every observed body shape
        status_twin.error_type = getattr(kluster, "error_type", None)
        if isinstance(status_twin, KlusterRateLimitError):
            status_twin.retry_after = getattr(kluster, "retry_after", None)
        return cast("BaseException", status_twin)
    request = getattr(exc, "request", None) or _placeholder_request(client)
    if isinstance(exc, openai.APITimeoutError):
        twin = KlusterOpenAITimeoutError.__new__(KlusterOpenAITimeoutError)
        openai.APIConnectionError.__init__(twin, message=kluster.message, request=request)
        return twin
    if isinstance(exc, openai.APIConnectionError):
        twin = KlusterOpenAIConnectionError.__new__(KlusterOpenAIConnectionError)
        openai.APIConnectionError.__init__(twin, message=kluster.message, request=request)
        return twin
    if isinstance(kluster, KlusterResponseError):
        return response_error(kluster.message, request)
    return kluster


_COMBINED: dict[tuple[type[BaseException], type[BaseException]], type[BaseException] | None] = {}


def _kluster_base(error: KlusterError) -> type[KlusterError]:
    """The public `KlusterError` class of `error` (not a twin)."""
    return next(
        c
        for c in type(error).__mro__
        if isinstance(c, type) and issubclass(c, KlusterError) and c.__module__ == KlusterError.__module__
    )


def _combined_class(base: type[KlusterError], framework: type[BaseException]) -> type[BaseException] | None:
    key = (base, framework)
    if key not in _COMBINED:
        try:
            _COMBINED[key] = type(
                f"Kluster{framework.__name__}",
                (_OpenAITwin, base, framework),
                {
                    "__module__": __name__,
                    "__doc__": f"A `{base.__name__}` that is also the framework's `{framework.__qualname__}`.",
                },
            )
        except TypeError:  # incompatible layouts: the kluster error alone is the best we can do
            _COMBINED[key] = None
    return _COMBINED[key]


def combine_errors(kluster: KlusterError, framework_error: BaseException) -> BaseException:
    """One exception that is both `kluster` (its `KlusterError` class and attributes) and
    `framework_error` (its class and attributes), so a framework's retry/fallback logic and its users'
    `except` clauses keep working while `except KlusterError` catches it too."""
    if isinstance(framework_error, KlusterError):
        return framework_error
    cls = _combined_class(_kluster_base(kluster), type(framework_error))
    if cls is None:
        return kluster
    combined = cls.__new__(cls)
    combined.__dict__.update(framework_error.__dict__)
    combined.__dict__.update(kluster.__dict__)
    combined.args = kluster.args
    return combined


def as_kluster_error(exc: BaseException, client: Any = None) -> BaseException:
    """What an adapter should raise for `exc` raised by a framework on top of our clients: `exc` itself
    when it already is a `KlusterError`; the framework's wrapper combined with the `KlusterError` found
    in its cause chain; a typed twin for a raw openai/decoding/transport failure; else `exc` unchanged."""
    if isinstance(exc, KlusterError):
        return exc
    link: BaseException | None = exc.__cause__ or exc.__context__
    seen = {id(exc)}
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, KlusterError):
            scrub_exception(exc)
            return combine_errors(link, exc)
        link = link.__cause__ or link.__context__
    twin = openai_twin(exc, client)
    if (
        twin is not exc
        and isinstance(twin, KlusterError)
        and type(exc).__module__.split(".")[0] not in ("openai", "json", "httpx")
    ):
        return combine_errors(twin, exc)
    return twin


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


def _kluster_body(error: KlusterError) -> Any:
    return getattr(error, "body", None)


def response_error(message: str, request: httpx.Request) -> KlusterOpenAIResponseError:
    twin = KlusterOpenAIResponseError.__new__(KlusterOpenAIResponseError)
    openai.APIError.__init__(twin, redact(message), request, body=None)
    twin.response = None  # type: ignore[assignment]  # there is no usable response to show
    twin.status_code = 200
    return twin


def stream_error(message: str, request: httpx.Request) -> KlusterOpenAIStreamError:
    twin = KlusterOpenAIStreamError.__new__(KlusterOpenAIStreamError)
    openai.APIConnectionError.__init__(twin, message=redact(message), request=request)
    return twin


_TRUNCATED = (
    "The streamed answer from kluster.ai ended before its finish chunk (no finish_reason / [DONE]) after "
    "{chunks} chunk(s): the text so far is incomplete. Retry the request."
)
_BROKEN = "The streamed answer from kluster.ai broke after {chunks} chunk(s) ({cause}); the text so far is incomplete. Retry the request."


class StreamTail(Protocol):
    """Reads a checked stream's chunks in runs (`read`, after they have passed) and may add one last chunk
    when the stream ends (`tail`; the stream usage counter): no call per chunk."""

    def read(self, chunks: Sequence[Any]) -> None: ...

    def tail(self) -> Any | None: ...


_RUN = 256  # chunks noted before they are read and let go: a long stream is not held in memory


def _finished(chunks: Sequence[Any]) -> bool:
    """Whether a chunk (an openai model or its JSON) says how the answer finished (looked for from the
    end, where it is)."""
    for chunk in reversed(chunks):
        if type(chunk) is dict:
            choices = chunk.get("choices")
            if type(choices) is list and any(type(c) is dict and c.get("finish_reason") for c in choices):
                return True
            continue
        for choice in getattr(chunk, "choices", None) or ():
            if getattr(choice, "finish_reason", None):
                return True
    return False


class _Noted:
    """The chunks a checked stream has passed: each is appended, and every `_RUN` of them is read (finish
    reason, `end`) and dropped, so the per-chunk cost is one append and memory stays bounded."""

    __slots__ = ("chunks", "count", "end", "finished")

    def __init__(self, end: StreamTail | None) -> None:
        self.chunks: list[Any] = []
        self.count = 0
        self.finished = False
        self.end = end

    def read(self) -> None:
        chunks = self.chunks
        self.count += len(chunks)
        self.finished = self.finished or _finished(chunks)
        if self.end is not None:
            self.end.read(chunks)
        self.chunks = []

    def close(self, request: httpx.Request) -> Any | None:
        """At the end of the stream: raise when no chunk finished it, else the `end`'s last chunk (or None)."""
        self.read()
        if not self.finished:
            raise stream_error(_TRUNCATED.format(chunks=self.count), request)
        return self.end.tail() if self.end is not None else None

    def broken(self, exc: Exception, request: httpx.Request) -> KlusterOpenAIStreamError:
        scrub_exception(exc)
        return stream_error(_BROKEN.format(chunks=self.count + len(self.chunks), cause=type(exc).__name__), request)


def _checked_stream(stream: openai.Stream[Any], end: StreamTail | None) -> openai.Stream[Any]:
    """Make `stream` raise a `KlusterOpenAIStreamError` when it ends without a finish chunk or breaks,
    and let `end` add a last chunk. Each chunk only passes through and is noted (`_Noted`)."""
    inner = stream._iterator
    request = stream.response.request

    def checked() -> Iterator[Any]:
        noted = _Noted(end)
        note = noted.chunks.append
        try:
            for chunk in inner:
                note(chunk)
                if len(noted.chunks) == _RUN:
                    noted.read()
                    note = noted.chunks.append
                yield chunk
        except (openai.APIError, httpx.HTTPError, json.JSONDecodeError) as exc:
            raise noted.broken(exc, request) from exc
        if (tail := noted.close(request)) is not None:
            yield tail

    stream._iterator = checked()
    return stream


def _checked_async_stream(stream: openai.AsyncStream[Any], end: StreamTail | None) -> openai.AsyncStream[Any]:
    inner = stream._iterator
    request = stream.response.request

    async def checked() -> AsyncIterator[Any]:
        noted = _Noted(end)
        note = noted.chunks.append
        try:
            async for chunk in inner:
                note(chunk)
                if len(noted.chunks) == _RUN:
                    noted.read()
                    note = noted.chunks.append
                yield chunk
        except (openai.APIError, httpx.HTTPError, json.JSONDecodeError) as exc:
            raise noted.broken(exc, request) from exc
        if (tail := noted.close(request)) is not None:
            yield tail

    stream._iterator = checked()
    return stream


def checked_result(result: Any, client: Any, end: StreamTail | None = None) -> Any:
    """`result`, checked: a stream raises when it breaks or ends without its finish chunk (`end` may add
    a last chunk), a chat completion (its JSON, or a raw response of either) without a `choices` list
    raises at once. A raw response's stream is checked as the stream itself."""
    if isinstance(result, openai.Stream):
        return _checked_stream(result, end)
    if isinstance(result, openai.AsyncStream):
        return _checked_async_stream(result, end)
    if not isinstance(result, LegacyAPIResponse):
        parsed = result
    elif result._stream:  # the stream the caller's parse() will get (the SDK caches it), checked in place
        checked_result(result.parse(), client, end)
        return result
    else:  # parsed now: the SDK caches it, so the caller's own parse() costs nothing more
        parsed = result.parse()
    if type(parsed) is dict:
        choices = parsed.get("choices")
    elif isinstance(parsed, ChatCompletion):
        choices = getattr(parsed, "choices", None)
    else:
        return result
    if not isinstance(choices, list):
        raise response_error(
            "kluster.ai answered 200 with a chat completion that has no `choices` list — retry the request; "
            "if it persists, check KLUSTER_BASE_URL points at the kluster API (…/v1).",
            _placeholder_request(client),
        )
    return result


_NOT_JSON = (
    "kluster.ai answered 200 with content that is not JSON (an HTML page from a proxy, firewall or captive "
    "portal?) — retry the request; if it persists, check your network and that KLUSTER_BASE_URL points at "
    "the kluster API (…/v1)."
)


def is_page(response: httpx.Response) -> bool:
    """Whether a read answer is not JSON at all (a malformed JSON body, labelled JSON, is the service's own
    answer: it raises its own JSONDecodeError, typed by the caller)."""
    if response.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
        return False
    try:
        response.json()
    except httpx.ResponseNotRead:
        return False
    except ValueError:
        return True
    return False


def refuse_non_json(response: httpx.Response, cast_to: Any, stream: bool, client: Any) -> None:
    """Raise a `KlusterOpenAIResponseError` for a 200 answer that should be an API object but is not
    JSON: the SDK would hand its text on as a `str`, and the caller (or the SDK's own post-parsers)
    would crash far from the cause with an `AttributeError`."""
    if _expects_api_object.get():  # sent inside `expecting_api_object`: `refuse_page` has checked it
        return
    if not stream and _is_api_object(cast_to) and is_page(response):
        raise response_error(_NOT_JSON, _placeholder_request(client))


class PageInsteadOfJSON(Exception):
    """A 2xx answer that should be an API object but is a page (a proxy's or captive portal's). Not an
    `openai.OpenAIError`, so the SDK's retry loop retries it as it retries a dropped connection, within
    the client's `max_retries`; `raise_typed` turns the last one into the typed not-JSON error."""


_expects_api_object: ContextVar[bool] = ContextVar("kluster_expects_api_object", default=False)


class _Expecting:
    """The context of `expecting_api_object`: a plain class rather than a `contextmanager` generator,
    since it wraps every request."""

    __slots__ = ("_expects", "_token")

    def __init__(self, expects: bool) -> None:
        self._expects = expects

    def __enter__(self) -> None:
        self._token = _expects_api_object.set(self._expects)

    def __exit__(self, *exc_info: object) -> None:
        _expects_api_object.reset(self._token)


def expecting_api_object(cast_to: Any, stream: bool) -> _Expecting:
    """Mark the requests sent inside as ones whose 2xx answer must be JSON (see `refuse_page`)."""
    return _Expecting(not stream and _is_api_object(cast_to))


_API_OBJECT_TYPES: dict[Any, bool] = {}


def _is_api_object(cast_to: Any) -> bool:
    """`is_basemodel(cast_to)`, kept per type: asked on every request of a few SDK types (resolving the
    type costs a dozen calls each time)."""
    try:
        return _API_OBJECT_TYPES[cast_to]
    except KeyError:
        if len(_API_OBJECT_TYPES) >= 256:  # bounded, whatever a caller passes as cast_to
            _API_OBJECT_TYPES.clear()
        found = _API_OBJECT_TYPES[cast_to] = is_basemodel(cast_to)
        return found
    except TypeError:  # an unhashable type expression
        return is_basemodel(cast_to)


def refuse_page(response: httpx.Response) -> httpx.Response:
    """`response`, unless it is a 2xx page where an API object was expected: a captive portal or a
    proxy's error page is transient, so it raises `PageInsteadOfJSON` for the SDK to retry."""
    if _expects_api_object.get() and response.is_success and is_page(response):  # read, so already closed
        raise PageInsteadOfJSON(response.status_code)
    return response


def checked_body(result: Any, cast_to: Any, client: Any) -> Any:
    """`result` of a request, unless a 200 answer that should be an API object is not JSON: the SDK
    returns such a body as a `str` (or a raw response whose `parse()` does), which crashes the caller far
    from the cause; it becomes a `KlusterOpenAIResponseError` here. A raw response is parsed now (the SDK
    caches it, so the caller's own `parse()` costs nothing), so a malformed JSON body is typed here too."""
    if isinstance(result, LegacyAPIResponse):
        if result._stream:
            return result
        cast_to = result._cast_to
        parsed = result.parse()
    else:
        parsed = result
    if isinstance(parsed, str) and _is_api_object(cast_to):
        raise response_error(_NOT_JSON, _placeholder_request(client))
    return result


def raise_typed(exc: BaseException, client: Any = None) -> None:
    """Raise `as_kluster_error(exc)`, chained, when it is not `exc`; else return (the caller re-raises
    `exc` with a bare `raise`, keeping its traceback)."""
    if isinstance(exc, openai.APIConnectionError) and isinstance(exc.__cause__, PageInsteadOfJSON):
        raise response_error(_NOT_JSON, exc.request) from None  # the last of the retried pages
    mapped = as_kluster_error(exc, client)
    if mapped is not exc:
        raise mapped from exc
