"""`openai.OpenAI` / `AsyncOpenAI` subclasses whose `chat.completions.create` (and `parse`, and
`stream`, which calls `create`; also under `beta.chat`) runs every request through
`compat.prepare_chat_request` first — the one place compat runs on the real-time path.

This is what makes compat impossible to bypass: any framework that takes an openai client
(PydanticAI providers, CrewAI's native OpenAI LLM, LangChain's root client) gets kluster's
rules applied — drops, translations, and refusals raised before the network.

Every failure comes out as a `KlusterError` that is *also* the openai exception type the
framework on top already catches and retries (`KlusterOpenAIAuthError` is a `KlusterAuthError`
and an `openai.AuthenticationError`); a stream that ends without its finish chunk raises
`KlusterOpenAIStreamError` instead of passing for a complete answer; a malformed 200 answer raises
`KlusterOpenAIResponseError`. Secrets echoed by a server are scrubbed from every error.

Streams also get token usage here (`stream_usage`): `stream_options.include_usage` is asked for
until the base URL refuses it once, and a stream without usage ends with an estimated usage chunk.

`KlusterJSONCompletions` is the same resource handing chat completions (and stream chunks) back as
the JSON the service sent, for callers that read dicts (LangChain's chat models accept them): building
openai models only to dump them back costs ~90 us a completion and ~80 us a stream chunk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from functools import cached_property
from typing import Any

import httpx
import openai
from openai._legacy_response import LegacyAPIResponse
from openai._models import FinalRequestOptions, construct_type
from openai.resources.beta import AsyncBeta, Beta
from openai.resources.chat import AsyncChat, AsyncCompletions, Chat, Completions
from openai.resources.embeddings import AsyncEmbeddings, Embeddings
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from kluster_agents.integrations._api.adaptive_requests import (
    aresolve,
    is_placeholder,
    refuse_adaptive_stream,
    requested_adaptive,
    resolve,
)
from kluster_agents.integrations._api.compat import RequestShapes, prepare_chat_request
from kluster_agents.integrations._api.compat_trace import (
    COMPAT_HEADER,
    compat_changes,
    header_value,
    sends_compat_header,
    with_probe,
)
from kluster_agents.integrations._api.embeddings import prepare_embedding_kwargs
from kluster_agents.integrations._api.limiter_registry import MODEL_EXTENSION
from kluster_agents.integrations._api.openai_errors import (
    checked_body,
    checked_result,
    expecting_api_object,
    openai_twin,
    raise_typed,
    refuse_non_json,
    refuse_page,
)
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._api.stream_usage import (
    INCLUDE_USAGE,
    UsageCounter,
    accepts_stream_options,
    is_stream_options_refusal,
    remember_acceptance,
    remember_refusal,
    should_ask,
)
from kluster_agents.integrations._version import USER_AGENT

# Keyword arguments of `create()` that are request options, not body parameters.
_OPTION_NAMES = frozenset(("extra_headers", "extra_query", "extra_body", "timeout"))
_Omit = openai.Omit
# The SDK tells the server its read timeout in this header whenever a timeout is set (ours always is);
# kluster.ai documents no use for it, and building and reading it back costs ~5 µs a request, so it is
# left out (the timeout itself still applies). A caller's own value for it is sent as given.
READ_TIMEOUT_HEADER = "x-stainless-read-timeout"
# Request extension marking a chat completion request whose answer is handed back as the JSON read
# (`KlusterJSONCompletions`); set while such a resource sends (`_as_json`), read when the answer is
# decoded, which for a stream is long after the call returned.
JSON_EXTENSION = "kluster_json"
_JSON_TYPES = (ChatCompletion, ChatCompletionChunk)
_as_json: ContextVar[bool] = ContextVar("kluster_chat_as_json", default=False)


def prepare_create_kwargs(
    kwargs: dict[str, Any], settings: KlusterSettings | None, shapes: RequestShapes | None = None
) -> dict[str, Any]:
    """Apply compat to the body parameters of a `chat.completions.create(**kwargs)` call.

    `shapes` (the client's `RequestShapes`, built for `settings`) keeps compat's per-shape decisions
    between calls, so a repeated request shape costs only its per-value checks."""
    if _Omit in map(type, kwargs.values()):  # the SDK's `omit` marks a parameter not given
        body = {k: v for k, v in kwargs.items() if not isinstance(v, _Omit)}
    else:
        body = dict(kwargs)
    options: dict[str, Any] = {}
    for name in _OPTION_NAMES.intersection(kwargs):  # usually none, or LangChain's extra_headers alone
        options[name] = kwargs[name]
        body.pop(name, None)
    headers = options.get("extra_headers")
    if headers is None:
        options["extra_headers"] = {READ_TIMEOUT_HEADER: openai.omit}
    elif type(headers) is dict or isinstance(headers, Mapping):  # LangChain's own dict, without an ABC check
        headers = dict(headers)
        if "User-Agent" in headers:  # e.g. pydantic-ai sets its own per request
            headers["User-Agent"] = f"{USER_AGENT} {headers['User-Agent']}"
        if not any(type(name) is str and name.lower() == READ_TIMEOUT_HEADER for name in headers):
            headers[READ_TIMEOUT_HEADER] = openai.omit
        options["extra_headers"] = headers
    key = None
    if shapes is not None and shapes.settings is settings:
        prepared, key = shapes.prepare_keyed(body)
    else:
        prepared = prepare_chat_request(body, settings=settings)
    # what compat changed, for the emulator's inspector (never content); the same dict back: nothing
    if prepared is not body and sends_compat_header(settings):
        summary = _compat_summary(body, prepared, shapes, key)
        if summary:
            options["extra_headers"] = {**(options.get("extra_headers") or {}), COMPAT_HEADER: summary}
    prepared.update(options)  # `prepared` is never the caller's dict: `body` is a copy
    return prepared


def _compat_summary(
    body: dict[str, Any], prepared: dict[str, Any], shapes: RequestShapes | None, key: tuple[Any, ...] | None
) -> str:
    """The compat header's value ("" when nothing changed), kept per shape when the fast path answered
    (the change then follows from the shape alone)."""
    if shapes is not None and key is not None:
        summary: str | None = shapes.notes.get(key)
        if summary is not None:
            return summary
    changes = compat_changes(body, prepared)
    summary = header_value(changes) if changes else ""
    if shapes is not None and key is not None:
        shapes.notes[key] = summary
    return summary


def _shapes_of(client: Any) -> RequestShapes | None:
    """The client's `RequestShapes`, rebuilt when its `kluster_settings` object is replaced."""
    settings = _settings_of(client)
    if settings is None:
        return None
    shapes: RequestShapes | None = getattr(client, "_kluster_shapes", None)
    if shapes is None or shapes.settings is not settings:
        shapes = client._kluster_shapes = RequestShapes(settings)
    return shapes


def _prepared(client: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    return prepare_create_kwargs(kwargs, _settings_of(client), _shapes_of(client))


def _settings_of(client: Any) -> KlusterSettings | None:
    return getattr(client, "kluster_settings", None)


def _stream_plan(client: Any, prepared: dict[str, Any]) -> tuple[bool, str, bool]:
    """(is a stream, base URL, ask for usage with stream_options) for one prepared request."""
    if not prepared.get("stream"):
        return False, "", False
    settings = resolve_settings(_settings_of(client))
    base = str(client.base_url).rstrip("/")
    return True, base, should_ask(settings.stream_usage, base)


def _usage_probe(client: Any, prepared: dict[str, Any], base: str) -> dict[str, Any]:
    """`prepared` asking for stream usage; labelled as the usage probe for the emulator's inspector when
    a refusal is expected and handled (`auto`, the base URL not known to accept it yet) and the compat
    header is sent."""
    asked = {**prepared, "stream_options": INCLUDE_USAGE}
    settings = _settings_of(client)
    if (
        settings is not None
        and settings.stream_usage == "auto"
        and not accepts_stream_options(base)
        and sends_compat_header(settings)
    ):
        asked["extra_headers"] = with_probe(prepared.get("extra_headers"), "stream_options")
    return asked


def _refuse_adaptive_stream(prepared: dict[str, Any]) -> None:
    if prepared.get("stream") and requested_adaptive(prepared):
        raise refuse_adaptive_stream(prepared.get("model"))


class _AnsweredRawResponse:
    """What `with_raw_response.create()` returns for an adaptive request: the raw placeholder response's
    headers, and `parse()` giving the real answer (LangChain reads chat completions this way)."""

    def __init__(self, answer: Any, raw: Any) -> None:
        self._answer = answer
        self.http_response = raw.http_response
        self.headers = raw.headers

    def parse(self, **_: Any) -> Any:
        return self._answer

    @property
    def text(self) -> str:
        """The answer as JSON text: frameworks read the raw body too (CrewAI checks it for upstream errors)."""
        return str(self._answer.model_dump_json())

    @property
    def content(self) -> bytes:
        return self.text.encode()


def _placeholder_of(result: Any) -> Any:
    """The placeholder completion in `result` (a completion, its JSON or a raw response), or None."""
    if isinstance(result, LegacyAPIResponse):
        parsed = result.parse()  # cached by the SDK: the caller's own parse() costs nothing more
        return parsed if is_placeholder(parsed) else None
    return result if is_placeholder(result) else None


def _as_model(placeholder: Any) -> Any:
    """The placeholder as the openai model the job layer reads (it came as JSON to a JSON resource)."""
    if isinstance(placeholder, dict):
        return construct_type(type_=ChatCompletion, value=placeholder)
    return placeholder


def _answered(result: Any, placeholder: Any, answer: Any) -> Any:
    return answer if result is placeholder else _AnsweredRawResponse(answer, result)


def _can_fall_back(client: Any, exc: Exception) -> bool:
    return resolve_settings(_settings_of(client)).stream_usage == "auto" and is_stream_options_refusal(exc)


class KlusterCompletions(Completions):
    def _sdk_create(self, kwargs: dict[str, Any]) -> Any:
        """The SDK's `create`: one request (with the SDK's retries), its answer decoded as openai models."""
        return super().create(**kwargs)

    def create(self, **kwargs: Any) -> Any:
        prepared = _prepared(self._client, kwargs)
        _refuse_adaptive_stream(prepared)
        streaming, base, ask = _stream_plan(self._client, prepared)
        try:
            if not streaming:
                result = checked_result(self._sdk_create(prepared), self._client)
                placeholder = _placeholder_of(result)
                if placeholder is None:
                    return result
                answer = resolve(self._client, _as_model(placeholder), _settings_of(self._client))
                return _answered(result, placeholder, answer)
            if ask:
                try:
                    stream = self._sdk_create(_usage_probe(self._client, prepared, base))
                    remember_acceptance(base)
                    return checked_result(stream, self._client, UsageCounter(prepared["messages"]))
                except openai.BadRequestError as exc:
                    if not _can_fall_back(self._client, exc):
                        raise
                    remember_refusal(base)
            return checked_result(self._sdk_create(prepared), self._client, UsageCounter(prepared["messages"]))
        except (openai.OpenAIError, json.JSONDecodeError, httpx.HTTPError) as exc:
            twin = openai_twin(exc, self._client)
            if twin is exc:
                raise
            raise twin from exc

    def parse(self, **kwargs: Any) -> Any:
        """`parse()` (LangChain's path when `response_format` is set) posts on its own: an adaptive
        request goes through `create()`, which waits for the job instead of returning the placeholder."""
        prepared = _prepared(self._client, kwargs)
        if requested_adaptive(prepared):
            return self.create(**kwargs)
        return super().parse(**prepared)


class AsyncKlusterCompletions(AsyncCompletions):
    async def _sdk_create(self, kwargs: dict[str, Any]) -> Any:
        """As `KlusterCompletions._sdk_create`."""
        return await super().create(**kwargs)

    async def create(self, **kwargs: Any) -> Any:
        prepared = _prepared(self._client, kwargs)
        _refuse_adaptive_stream(prepared)
        streaming, base, ask = _stream_plan(self._client, prepared)
        try:
            if not streaming:
                result = checked_result(await self._sdk_create(prepared), self._client)
                placeholder = _placeholder_of(result)
                if placeholder is None:
                    return result
                answer = await aresolve(self._client, _as_model(placeholder), _settings_of(self._client))
                return _answered(result, placeholder, answer)
            if ask:
                try:
                    stream = await self._sdk_create(_usage_probe(self._client, prepared, base))
                    remember_acceptance(base)
                    return checked_result(stream, self._client, UsageCounter(prepared["messages"]))
                except openai.BadRequestError as exc:
                    if not _can_fall_back(self._client, exc):
                        raise
                    remember_refusal(base)
            stream = await self._sdk_create(prepared)
            return checked_result(stream, self._client, UsageCounter(prepared["messages"]))
        except (openai.OpenAIError, json.JSONDecodeError, httpx.HTTPError) as exc:
            twin = openai_twin(exc, self._client)
            if twin is exc:
                raise
            raise twin from exc

    async def parse(self, **kwargs: Any) -> Any:
        """As `KlusterCompletions.parse`: an adaptive request waits for its job through `create()`."""
        prepared = _prepared(self._client, kwargs)
        if requested_adaptive(prepared):
            return await self.create(**kwargs)
        return await super().parse(**prepared)


class KlusterJSONCompletions(KlusterCompletions):
    """`KlusterCompletions` whose chat completions and stream chunks come back as the JSON the service
    sent (dicts), checked alike; an adaptive request's answer stays an openai model."""

    def _sdk_create(self, kwargs: dict[str, Any]) -> Any:
        token = _as_json.set(True)
        try:
            return super()._sdk_create(kwargs)
        finally:
            _as_json.reset(token)


class AsyncKlusterJSONCompletions(AsyncKlusterCompletions):
    """The async twin of `KlusterJSONCompletions`."""

    async def _sdk_create(self, kwargs: dict[str, Any]) -> Any:
        token = _as_json.set(True)
        try:
            return await super()._sdk_create(kwargs)
        finally:
            _as_json.reset(token)


class KlusterChat(Chat):
    @cached_property
    def completions(self) -> KlusterCompletions:
        return KlusterCompletions(self._client)

    @cached_property
    def json_completions(self) -> KlusterJSONCompletions:
        """`completions` answering with the JSON the service sent (for callers that read dicts)."""
        return KlusterJSONCompletions(self._client)


class AsyncKlusterChat(AsyncChat):
    @cached_property
    def completions(self) -> AsyncKlusterCompletions:
        return AsyncKlusterCompletions(self._client)

    @cached_property
    def json_completions(self) -> AsyncKlusterJSONCompletions:
        """As `KlusterChat.json_completions`."""
        return AsyncKlusterJSONCompletions(self._client)


class KlusterBeta(Beta):
    @cached_property
    def chat(self) -> KlusterChat:
        return KlusterChat(self._client)


class AsyncKlusterBeta(AsyncBeta):
    @cached_property
    def chat(self) -> AsyncKlusterChat:
        return AsyncKlusterChat(self._client)


class KlusterEmbeddingsResource(Embeddings):
    """`client.embeddings` of a kluster client: every request checked before it is sent."""

    def create(self, **kwargs: Any) -> Any:
        return super().create(**prepare_embedding_kwargs(kwargs))


class AsyncKlusterEmbeddingsResource(AsyncEmbeddings):
    """Async twin of `KlusterEmbeddingsResource`."""

    async def create(self, **kwargs: Any) -> Any:
        return await super().create(**prepare_embedding_kwargs(kwargs))


def _marked(request: httpx.Request, options: FinalRequestOptions) -> httpx.Request:
    """`request` naming the model of its JSON body (`extra_body` wins, as when the SDK merges them) in
    `MODEL_EXTENSION`, for the rate limiter of a shared pool, and marked `JSON_EXTENSION` when sent by a
    `KlusterJSONCompletions`."""
    if _as_json.get():
        request.extensions[JSON_EXTENSION] = True
    body, extra = options.json_data, options.extra_json
    if isinstance(extra, Mapping) and "model" in extra:
        body = extra
    if isinstance(body, Mapping) and type(model := body.get("model")) is str:  # a name, hashable
        request.extensions[MODEL_EXTENSION] = model
    return request


def _with_json_body(options: FinalRequestOptions) -> FinalRequestOptions:
    """kluster.ai answers a JSON POST with an empty body (the SDK's `batches.cancel`,
    `fine_tuning.jobs.cancel`, `uploads.cancel`) with HTTP 500 (observed): send `{}` instead."""
    if options.method.lower() != "post" or options.json_data is not None or options.files or options.extra_json:
        return options
    return options.model_copy(update={"json_data": {}})


class _KlusterRequests:
    """What the sync and async kluster clients do alike to every request and answer."""

    def _build_request(self, options: FinalRequestOptions, *, retries_taken: int = 0) -> httpx.Request:
        options = _with_json_body(options)
        return _marked(super()._build_request(options, retries_taken=retries_taken), options)  # type: ignore[misc]

    def _process_response_data(self, *, data: object, cast_to: Any, response: httpx.Response) -> Any:
        """The JSON as read for a marked chat completion request (see `KlusterJSONCompletions`)."""
        if cast_to in _JSON_TYPES and response.request.extensions.get(JSON_EXTENSION):
            return data
        return super()._process_response_data(data=data, cast_to=cast_to, response=response)  # type: ignore[misc]


class KlusterOpenAI(_KlusterRequests, openai.OpenAI):
    """An `openai.OpenAI` for kluster.ai that applies compat to chat completions."""

    def __init__(self, *, kluster_settings: KlusterSettings | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kluster_settings = kluster_settings

    def request(self, cast_to: Any, options: Any, *, stream: bool = False, stream_cls: Any = None) -> Any:
        """Every request of every resource (embeddings, `parse`, models, files, batches...): failures come
        out typed and scrubbed of secrets, and a 200 that is not JSON is retried like a 5xx, then a
        `KlusterOpenAIResponseError`."""
        try:
            with expecting_api_object(cast_to, stream):
                result = super().request(cast_to, options, stream=stream, stream_cls=stream_cls)
            return checked_body(result, cast_to, self)
        except (openai.OpenAIError, json.JSONDecodeError, httpx.HTTPError) as exc:
            raise_typed(exc, self)
            raise

    def _send_request(self, request: httpx.Request, *, stream: bool, **kwargs: Any) -> httpx.Response:
        return refuse_page(super()._send_request(request, stream=stream, **kwargs))

    def _process_response(self, *, cast_to: Any, response: httpx.Response, stream: bool, **kwargs: Any) -> Any:
        refuse_non_json(response, cast_to, stream, self)
        return super()._process_response(cast_to=cast_to, response=response, stream=stream, **kwargs)

    @cached_property
    def chat(self) -> KlusterChat:
        return KlusterChat(self)

    @cached_property
    def beta(self) -> KlusterBeta:
        return KlusterBeta(self)

    @cached_property
    def embeddings(self) -> KlusterEmbeddingsResource:
        return KlusterEmbeddingsResource(self)


class AsyncKlusterOpenAI(_KlusterRequests, openai.AsyncOpenAI):
    """An `openai.AsyncOpenAI` for kluster.ai that applies compat to chat completions."""

    def __init__(self, *, kluster_settings: KlusterSettings | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kluster_settings = kluster_settings

    async def request(self, cast_to: Any, options: Any, *, stream: bool = False, stream_cls: Any = None) -> Any:
        """As `KlusterOpenAI.request`."""
        try:
            with expecting_api_object(cast_to, stream):
                result = await super().request(cast_to, options, stream=stream, stream_cls=stream_cls)
            return checked_body(result, cast_to, self)
        except (openai.OpenAIError, json.JSONDecodeError, httpx.HTTPError) as exc:
            raise_typed(exc, self)
            raise

    async def _send_request(self, request: httpx.Request, *, stream: bool, **kwargs: Any) -> httpx.Response:
        return refuse_page(await super()._send_request(request, stream=stream, **kwargs))

    async def _process_response(self, *, cast_to: Any, response: httpx.Response, stream: bool, **kwargs: Any) -> Any:
        refuse_non_json(response, cast_to, stream, self)
        return await super()._process_response(cast_to=cast_to, response=response, stream=stream, **kwargs)

    @cached_property
    def chat(self) -> AsyncKlusterChat:
        return AsyncKlusterChat(self)

    @cached_property
    def beta(self) -> AsyncKlusterBeta:
        return AsyncKlusterBeta(self)

    @cached_property
    def embeddings(self) -> AsyncKlusterEmbeddingsResource:
        return AsyncKlusterEmbeddingsResource(self)
