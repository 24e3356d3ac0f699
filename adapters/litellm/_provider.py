"""`kluster/<model>` as a LiteLLM provider: a `CustomLLM` whose I/O goes through our compat-
enforcing openai client, plus the catalog's model info in LiteLLM's model map.

Why a `CustomLLM` and not LiteLLM's `openai/` route with `api_base`: the `openai` provider
claims every OpenAI parameter, so `drop_params` keeps sending `response_format`,
`parallel_tool_calls`... (LiteLLM #10791), and a pre-call hook cannot make a refusal reach the
caller as a typed error. Here every request is built by `make_client()`'s `KlusterOpenAI`,
whose `chat.completions.create` runs `compat.prepare_chat_request`: parameters are dropped or
translated by the one compat table, and refusals are raised before the network as
`LiteLLMKlusterUnsupportedError` — a `KlusterUnsupportedError` that is also a
`litellm.BadRequestError`, so LiteLLM passes it through unchanged. HTTP errors are left to
LiteLLM's own mapping (429 -> `litellm.RateLimitError` with the response headers, which the
Router reads for Retry-After).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import httpx
import litellm
import openai
from litellm import CustomLLM
from litellm.constants import COMPLETION_HTTP_FALLBACK_SECONDS
from litellm.litellm_core_utils.request_timeout_resolver import get_configured_request_timeout
from litellm.types.utils import (
    Delta,
    EmbeddingResponse,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
    Usage,
)
from litellm.utils import convert_to_model_response_object, custom_llm_setup

from kluster_agents.adapters.litellm._errors import PROVIDER, LiteLLMKlusterInvalidRequestError, as_litellm_error
from kluster_agents.adapters.litellm._structured_output import (
    PromptedRun,
    SchemaRequest,
    schema_request,
    tool_call_to_content,
    tool_kwargs,
)
from kluster_agents.integrations._api.adaptive_requests import requested_adaptive
from kluster_agents.integrations._api.catalog import ModelInfo, get_model, list_models, supports_tools
from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.compat import KlusterCompatWarning, check_chat_request, check_message_list
from kluster_agents.integrations._api.errors import (
    KlusterConfigError,
    KlusterInvalidRequestError,
    KlusterResponseError,
    KlusterStreamError,
    KlusterTimeoutError,
    KlusterUnsupportedError,
)
from kluster_agents.integrations._api.prices import cost_of, price_of
from kluster_agents.integrations._api.reasoning import ThinkSplitter
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode, with_adaptive
from kluster_agents.integrations._version import product

if TYPE_CHECKING:
    from kluster_agents.integrations._api.kluster_openai import AsyncKlusterOpenAI, KlusterOpenAI

PREFIX = f"{PROVIDER}/"
# LiteLLM passes unknown keyword arguments to a custom handler (`completion(..., adaptive=True)`);
# the same option inside `extra_body` serves callers whose framework only forwards extra_body.
ADAPTIVE_EXTRA_BODY_KEY = "kluster_adaptive"


@functools.cache
def _create_params() -> frozenset[str]:
    """Body parameters `chat.completions.create()` takes by name; anything else goes in extra_body.

    Read at the first call, not at import: `openai.resources` loads every resource module of the SDK.
    """
    from openai.resources.chat import Completions

    return frozenset(inspect.signature(Completions.create).parameters) - {"self"}


_PRE_NETWORK_ERRORS = (KlusterUnsupportedError, KlusterInvalidRequestError, KlusterConfigError)
_KEY = tuple[int, int | None]  # (id of the settings object the entry holds, max_retries)


def model_name(model: str) -> str:
    """`kluster/<id>` -> `<id>` (LiteLLM strips the prefix before calling us; users may not)."""
    return model[len(PREFIX) :] if model.startswith(PREFIX) else model


def call_timeout(timeout: float | httpx.Timeout | None) -> float | httpx.Timeout | None:
    """The timeout the user gave LiteLLM, or None for LiteLLM's own 600 s fallback — then the kluster
    client's `KLUSTER_TIMEOUT` / `KLUSTER_CONNECT_TIMEOUT` apply. (Passing exactly `timeout=600` with
    no `litellm.request_timeout` set cannot be told apart from the fallback, and gets KLUSTER_TIMEOUT.)"""
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return timeout
    if float(timeout) == float(COMPLETION_HTTP_FALLBACK_SECONDS) and get_configured_request_timeout() is None:
        return None
    return timeout


def adaptive_option(*values: Any) -> AdaptiveMode | None:
    """The adaptive-inference mode asked for by `adaptive=` or `extra_body["kluster_adaptive"]`
    (True, a dict of `AdaptiveMode` fields or an `AdaptiveMode`; False/None: real time)."""
    for value in values:
        if value is None:
            continue
        mode = AdaptiveMode.coerce(value)
        if mode is not None:
            return mode
    return None


COST_HEADER = "llm_provider-x-litellm-response-cost"


def with_batch_cost(response: ModelResponse, cost: float | None = None) -> ModelResponse:
    """An answer served by a batch job (Batch API line, adaptive request) with its batch-price cost,
    as a provider-reported cost LiteLLM's cost tracking takes over its own per-token figure, and as
    `_hidden_params["response_cost"]`. Without a batch price nothing is set (`api.prices`)."""
    usage = getattr(response, "usage", None)
    if cost is None and usage is not None and response.model:
        cost = cost_of(model_name(response.model), usage, mode="batch")
    if cost is not None:
        response._hidden_params.setdefault("additional_headers", {})[COST_HEADER] = cost
        response._hidden_params["response_cost"] = cost
    return response


def wants_drop_params(litellm_params: Mapping[str, Any] | None) -> bool:
    """LiteLLM's `drop_params`: the call's (also a Router deployment's) or the global `litellm.drop_params`."""
    value = (litellm_params or {}).get("drop_params")
    if value is None:
        value = litellm.drop_params
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# What compat refuses that LiteLLM's `drop_params` may remove instead (image input and an output
# limit above the tier's stay refused: dropping them would change what the answer is about).
_DROPPABLE = frozenset(
    {"n", "modalities", "response_format", "tools", "functions", "tool_choice", "parallel_tool_calls"}
)
_TOOL_GROUP = ("tools", "functions", "tool_choice", "function_call", "parallel_tool_calls")
_NOT_CHECKED = ("extra_body", "extra_headers", "timeout")


def drop_refused(kwargs: dict[str, Any], settings: KlusterSettings) -> list[str]:
    """Remove from `kwargs` what compat would refuse (`drop_params=True`), one warning per parameter;
    returns the names removed. Tools on a model without tools go with their tool_choice."""
    dropped: list[str] = []
    while True:
        try:
            check_chat_request({k: v for k, v in kwargs.items() if k not in _NOT_CHECKED}, settings=settings)
        except KlusterUnsupportedError as exc:
            name = exc.parameter
            if name not in _DROPPABLE or name not in kwargs:
                raise
            names = [n for n in (_TOOL_GROUP if name in ("tools", "functions") else (name,)) if n in kwargs]
            for n in names:
                kwargs.pop(n)
            dropped += names
            warnings.warn(
                f"kluster-agents: dropped {', '.join(f'`{n}`' for n in names)} because drop_params=True: {exc}",
                KlusterCompatWarning,
                stacklevel=2,
            )
        else:
            return dropped


class KlusterLLM(CustomLLM):
    """LiteLLM handler for `kluster/<model>`: sync, async, streaming and tools.

    Settings come from `settings` when given, else from `KLUSTER_*` variables at call time
    (so `kluster_backend()` or a later `export` is picked up); a call's own `api_base` /
    `api_key` win. Clients are cached per (base URL, key, retries) and event loop.
    """

    def __init__(self, settings: KlusterSettings | None = None) -> None:
        super().__init__()
        self.settings = settings
        self._lock = threading.Lock()
        self._settings_cache: dict[tuple[str | None, str | None], KlusterSettings] = {}
        self._sync_clients: dict[_KEY, tuple[KlusterSettings, KlusterOpenAI]] = {}
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[_KEY, tuple[KlusterSettings, AsyncKlusterOpenAI]]
        ] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"KlusterLLM(settings={'given' if self.settings else 'from environment'})"

    # -- settings and clients -------------------------------------------------------------
    def resolve(self, api_base: str | None = None, api_key: str | None = None) -> KlusterSettings:
        """The settings of one call: registered or environment settings, with the call's overrides
        (one object per environment and arguments, which the client caches below rely on)."""
        if self.settings is None:
            return resolve_settings(None, base_url=api_base, api_key=api_key)  # cached per environment
        key = (api_base, api_key)
        cached = self._settings_cache.get(key)
        if cached is None:
            cached = resolve_settings(self.settings, base_url=api_base, api_key=api_key)
            with self._lock:
                if len(self._settings_cache) > 64:
                    self._settings_cache.clear()
                self._settings_cache[key] = cached
        return cached

    def _client_key(self, settings: KlusterSettings, max_retries: int | None) -> _KEY:
        # Every setting can change a client's behaviour (stream usage, timeouts, compat switches), so a
        # client belongs to one settings object; `resolve` hands out one object per environment.
        return (id(settings), max_retries)

    def sync_client(self, settings: KlusterSettings, max_retries: int | None = None) -> KlusterOpenAI:
        key = self._client_key(settings, max_retries)
        held = self._sync_clients.get(key)
        if held is None or held[0] is not settings:
            held = (settings, make_client(settings, max_retries=max_retries, user_agent=product("litellm")))
            with self._lock:
                if len(self._sync_clients) > 64:
                    self._sync_clients.clear()
                self._sync_clients[key] = held
        return held[1]

    def async_client(self, settings: KlusterSettings, max_retries: int | None = None) -> AsyncKlusterOpenAI:
        key = self._client_key(settings, max_retries)
        loop = asyncio.get_running_loop()
        with self._lock:
            clients = self._async_clients.setdefault(loop, {})
        held = clients.get(key)
        if held is None or held[0] is not settings:
            held = (settings, make_async_client(settings, max_retries=max_retries, user_agent=product("litellm")))
            if len(clients) > 64:
                clients.clear()
            clients[key] = held
        return held[1]

    # -- request building -----------------------------------------------------------------
    @staticmethod
    def create_kwargs(
        model: str,
        messages: list[Any],
        optional_params: Mapping[str, Any],
        headers: Mapping[str, str] | None,
        timeout: float | httpx.Timeout | None,
    ) -> dict[str, Any]:
        """`chat.completions.create` keyword arguments from LiteLLM's call (compat runs inside create)."""
        kwargs: dict[str, Any] = {"model": model_name(model), "messages": messages}
        extra_body = dict(optional_params.get("extra_body") or {})
        adaptive = adaptive_option(optional_params.get("adaptive"), extra_body.pop(ADAPTIVE_EXTRA_BODY_KEY, None))
        for name, value in optional_params.items():
            if name in ("extra_body", "max_retries", "adaptive"):
                continue
            if name in _create_params():
                kwargs[name] = value
            else:
                extra_body[name] = value
        if adaptive is not None:
            extra_body = with_adaptive(extra_body, adaptive)
        if extra_body:
            kwargs["extra_body"] = extra_body
        if headers:
            kwargs["extra_headers"] = {**dict(headers), **(kwargs.get("extra_headers") or {})}
        timeout = call_timeout(timeout)
        if timeout is not None:
            kwargs["timeout"] = timeout
        return kwargs

    def _prepare(
        self,
        model: str,
        messages: list[Any],
        api_base: str | None,
        api_key: str | None,
        optional_params: dict[str, Any],
        headers: Mapping[str, str] | None,
        timeout: Any,
        litellm_params: Mapping[str, Any] | None = None,
    ) -> tuple[KlusterSettings, int | None, dict[str, Any], SchemaRequest | None]:
        """Settings, retries, `create()` kwargs and the json_schema request taken out of them. With
        LiteLLM's `drop_params` (per call or `litellm.drop_params`), what compat would refuse is dropped
        with a warning instead, as LiteLLM does for its built-in providers."""
        max_retries = optional_params.get("max_retries")
        settings = self._keyed_settings(model, api_base, api_key)
        with _pre_network_errors(model):
            if timeout is None or _is_litellm_default_timeout(timeout):  # not the caller's choice: KLUSTER_TIMEOUT
                timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
            kwargs = self.create_kwargs(model, messages, optional_params, headers, timeout)
            request = schema_request(kwargs, settings)
            if wants_drop_params(litellm_params):
                drop_refused(kwargs, settings)
        return settings, max_retries, kwargs, request

    def _keyed_settings(self, model: str, api_base: str | None, api_key: str | None) -> KlusterSettings:
        """The call's settings; a missing key is refused before anything is built."""
        with _pre_network_errors(model):
            settings = self.resolve(api_base, api_key)
            settings.require_api_key()
        return settings

    def _prepare_embedding(
        self,
        model: str,
        input: list[Any],
        api_base: str | None,
        api_key: str | None,
        optional_params: dict[str, Any],
        timeout: Any,
    ) -> tuple[KlusterSettings, int | None, dict[str, Any]]:
        """`embeddings.create` arguments (checked inside create; `float` unless the caller chose). No chat
        rule applies here: `drop_params` (which LiteLLM may leave set globally) is for chat requests."""
        settings, retries = self._keyed_settings(model, api_base, api_key), None
        params = {k: v for k, v in optional_params.items() if k != "max_retries"}
        kwargs: dict[str, Any] = {"model": model_name(model), "input": input, "encoding_format": "float", **params}
        timeout = call_timeout(timeout)
        if timeout is not None:
            kwargs["timeout"] = timeout
        return settings, optional_params.get("max_retries", retries), kwargs

    @staticmethod
    def _to_embedding_response(raw: Any, model_response: EmbeddingResponse) -> EmbeddingResponse:
        # LiteLLM leaves the return unannotated: it is the response type asked for.
        return cast(
            EmbeddingResponse,
            convert_to_model_response_object(
                response_object=raw.http_response.json(),
                model_response_object=model_response,
                response_type="embedding",
                _response_headers=dict(raw.headers),
            ),
        )

    @staticmethod
    def _to_model_response(raw: Any, model_response: ModelResponse) -> ModelResponse:
        try:
            body = raw.http_response.json()
        except ValueError:
            error = KlusterResponseError(
                "kluster.ai answered 200 with a body that is not JSON — retry the request; if it persists, "
                "check the api_base points at the kluster API (…/v1)."
            )
            raise as_litellm_error(error, model_response.model) from None
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            error = KlusterResponseError("kluster.ai answered 200 with a chat completion that has no `choices` list.")
            raise as_litellm_error(error, model_response.model) from None
        return cast(
            ModelResponse,
            convert_to_model_response_object(
                response_object=body,
                model_response_object=model_response,
                _response_headers=dict(raw.headers),
            ),
        )

    @staticmethod
    def _body_to_model_response(body: dict[str, Any], headers: Any, model_response: ModelResponse) -> ModelResponse:
        return cast(
            ModelResponse,
            convert_to_model_response_object(
                response_object=body, model_response_object=model_response, _response_headers=dict(headers)
            ),
        )

    @staticmethod
    def _create(client: KlusterOpenAI, kwargs: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """The answer's JSON body and headers. An adaptive request's HTTP body is the service's
        placeholder: its answer is the completion the client waited for (no headers of its own)."""
        if requested_adaptive(kwargs):
            return client.chat.completions.create(**kwargs).model_dump(exclude_none=True), httpx.Headers()
        raw = client.chat.completions.with_raw_response.create(**kwargs)
        return raw.http_response.json(), raw.headers

    @staticmethod
    async def _acreate(client: AsyncKlusterOpenAI, kwargs: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        if requested_adaptive(kwargs):
            completion = await client.chat.completions.create(**kwargs)
            return completion.model_dump(exclude_none=True), httpx.Headers()
        raw = await client.chat.completions.with_raw_response.create(**kwargs)
        return raw.http_response.json(), raw.headers

    def _structured(
        self, client: KlusterOpenAI, kwargs: dict[str, Any], request: SchemaRequest
    ) -> tuple[dict[str, Any], Any]:
        """A `json_schema` response_format answered by a forced tool call or by prompted JSON."""
        if request.use_tool:
            body, headers = self._create(client, tool_kwargs(kwargs, request))
            return tool_call_to_content(body, request), headers
        run, headers = PromptedRun(kwargs, request), httpx.Headers()
        while not run.done:
            body, headers = self._create(client, run.kwargs)
            run.receive(body)
        return run.result(), headers

    async def _astructured(
        self, client: AsyncKlusterOpenAI, kwargs: dict[str, Any], request: SchemaRequest
    ) -> tuple[dict[str, Any], Any]:
        if request.use_tool:
            body, headers = await self._acreate(client, tool_kwargs(kwargs, request))
            return tool_call_to_content(body, request), headers
        run, headers = PromptedRun(kwargs, request), httpx.Headers()
        while not run.done:
            body, headers = await self._acreate(client, run.kwargs)
            run.receive(body)
        return run.result(), headers

    # -- LiteLLM entry points -------------------------------------------------------------
    def completion(
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: Any = None,
        logger_fn: Any = None,
        headers: dict[str, str] | None = None,
        timeout: Any = None,
        client: Any = None,
    ) -> ModelResponse:
        settings, retries, kwargs, request = self._prepare(
            model, messages, api_base, api_key, optional_params, headers, timeout, litellm_params
        )
        with _pre_network_errors(model):
            if request is not None:
                body, raw_headers = self._structured(self.sync_client(settings, retries), kwargs, request)
                return self._body_to_model_response(body, raw_headers, model_response)
            if requested_adaptive(kwargs):
                body, raw_headers = self._create(self.sync_client(settings, retries), kwargs)
                return with_batch_cost(self._body_to_model_response(body, raw_headers, model_response))
            raw = self.sync_client(settings, retries).chat.completions.with_raw_response.create(**kwargs)
        return self._to_model_response(raw, model_response)

    async def acompletion(
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: Any = None,
        logger_fn: Any = None,
        headers: dict[str, str] | None = None,
        timeout: Any = None,
        client: Any = None,
    ) -> ModelResponse:
        settings, retries, kwargs, request = self._prepare(
            model, messages, api_base, api_key, optional_params, headers, timeout, litellm_params
        )
        with _pre_network_errors(model):
            if request is not None:
                body, raw_headers = await self._astructured(self.async_client(settings, retries), kwargs, request)
                return self._body_to_model_response(body, raw_headers, model_response)
            if requested_adaptive(kwargs):
                body, raw_headers = await self._acreate(self.async_client(settings, retries), kwargs)
                return with_batch_cost(self._body_to_model_response(body, raw_headers, model_response))
            raw = await self.async_client(settings, retries).chat.completions.with_raw_response.create(**kwargs)
        return self._to_model_response(raw, model_response)

    # LiteLLM annotates only GenericStreamingChunk, yet its stream wrapper takes a custom provider's
    # ModelResponseStream chunks as they are (CustomStreamWrapper, `_custom_providers` branch).
    def streaming(  # type: ignore[override]
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: Any = None,
        logger_fn: Any = None,
        headers: dict[str, str] | None = None,
        timeout: Any = None,
        client: Any = None,
    ) -> Iterator[ModelResponseStream]:
        settings, retries, kwargs, request = self._prepare(
            model, messages, api_base, api_key, optional_params, headers, timeout, litellm_params
        )
        with _pre_network_errors(model):
            if request is not None:  # validated JSON cannot be streamed piecewise: one chunk
                body, _ = self._structured(self.sync_client(settings, retries), kwargs, request)
                return iter([_body_chunk(body)])
            kwargs["stream"] = True
            stream = self.sync_client(settings, retries).chat.completions.create(**kwargs)
        return _chunks(stream, get_model(model_name(model)).reasoning, model)

    # LiteLLM annotates a coroutine returning an iterator but iterates the call directly (an async
    # generator), and takes ModelResponseStream chunks as in `streaming`.
    async def astreaming(  # type: ignore[override]
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: Any = None,
        logger_fn: Any = None,
        headers: dict[str, str] | None = None,
        timeout: Any = None,
        client: Any = None,
    ) -> AsyncIterator[ModelResponseStream]:
        # LiteLLM iterates this without awaiting it first, so it must be an async generator.
        settings, retries, kwargs, request = self._prepare(
            model, messages, api_base, api_key, optional_params, headers, timeout, litellm_params
        )
        if request is not None:
            with _pre_network_errors(model):
                body, _ = await self._astructured(self.async_client(settings, retries), kwargs, request)
            yield _body_chunk(body)
            return
        kwargs["stream"] = True
        with _pre_network_errors(model):
            stream = await self.async_client(settings, retries).chat.completions.create(**kwargs)
        shaper = _StreamShaper(get_model(model_name(model)).reasoning)
        try:
            async with stream:
                async for chunk in stream:
                    for out in shaper.feed(chunk):
                        yield out
        except KlusterStreamError as exc:
            raise as_litellm_error(exc, model) from exc
        for out in shaper.end():
            yield out

    def embedding(
        self,
        model: str,
        input: list[Any],
        model_response: EmbeddingResponse,
        print_verbose: Callable[..., Any],
        logging_obj: Any,
        optional_params: dict[str, Any],
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        litellm_params: Any = None,
    ) -> EmbeddingResponse:
        settings, retries, kwargs = self._prepare_embedding(model, input, api_base, api_key, optional_params, timeout)
        with _pre_network_errors(model):
            raw = self.sync_client(settings, retries).embeddings.with_raw_response.create(**kwargs)
        return self._to_embedding_response(raw, model_response)

    async def aembedding(
        self,
        model: str,
        input: list[Any],
        model_response: EmbeddingResponse,
        print_verbose: Callable[..., Any],
        logging_obj: Any,
        optional_params: dict[str, Any],
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        litellm_params: Any = None,
    ) -> EmbeddingResponse:
        settings, retries, kwargs = self._prepare_embedding(model, input, api_base, api_key, optional_params, timeout)
        with _pre_network_errors(model):
            raw = await self.async_client(settings, retries).embeddings.with_raw_response.create(**kwargs)
        return self._to_embedding_response(raw, model_response)


_LITELLM_COMPLETION_DEFAULT_TIMEOUT = 600.0


def _is_litellm_default_timeout(timeout: Any) -> bool:
    """LiteLLM passes a default when the caller gave none: 600 s (its `completion()` default) or its global
    `request_timeout` (6000 s). An explicit `timeout=600` is indistinguishable and also yields to
    KLUSTER_TIMEOUT."""
    return (
        isinstance(timeout, int | float)
        and not isinstance(timeout, bool)
        and float(timeout) in (_LITELLM_COMPLETION_DEFAULT_TIMEOUT, float(litellm.request_timeout))
    )


class _pre_network_errors:
    """Turn compat refusals into their LiteLLM-passable twins; HTTP errors pass untouched."""

    def __init__(self, model: str) -> None:
        self.model = model

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, (*_PRE_NETWORK_ERRORS, KlusterResponseError, KlusterTimeoutError)):
            raise as_litellm_error(exc, self.model) from None


def _chunk(chunk: openai.types.chat.ChatCompletionChunk) -> ModelResponseStream:
    return ModelResponseStream(**chunk.model_dump(exclude_none=True))


def _body_chunk(body: dict[str, Any]) -> ModelResponseStream:
    """A whole (structured) reply as one stream chunk carrying content, finish reason and usage."""
    choice = body["choices"][0]
    message = choice.get("message") or {}
    delta: dict[str, Any] = {
        "role": "assistant",
        "content": message.get("content"),
        "tool_calls": message.get("tool_calls"),
    }
    return ModelResponseStream(
        id=body.get("id"),
        created=body.get("created"),
        model=body.get("model"),
        choices=[
            StreamingChoices(
                index=0,
                delta=Delta(**{k: v for k, v in delta.items() if v}),
                finish_reason=choice.get("finish_reason"),
            )
        ],
        usage=Usage(**body["usage"]) if body.get("usage") else None,
    )


class _StreamShaper:
    """Turns kluster chunks into what LiteLLM's stream wrapper keeps.

    - `<think>` of reasoning models goes to `delta.reasoning_content`, as LiteLLM's non-streamed
      path does it (`integrations._api.reasoning`, the one splitter).
    - Usage: LiteLLM stops reading a custom provider's stream at the first chunk without content
      after the finish reason, so a trailing usage-only chunk (the server's, or our estimate) would
      be lost. The last content chunk is held back until the stream ends and carries the usage.
    """

    def __init__(self, reasoning: bool) -> None:
        self.splitter = ThinkSplitter() if reasoning else None
        self.held: ModelResponseStream | None = None

    def feed(self, chunk: openai.types.chat.ChatCompletionChunk) -> Iterator[ModelResponseStream]:
        if not chunk.choices:
            if chunk.usage is not None and self.held is not None:
                self.held.usage = Usage(**chunk.usage.model_dump(exclude_none=True))
            return
        out = _chunk(chunk)
        delta = out.choices[0].delta
        if self.splitter is not None and delta.content:
            reasoning, content = self.splitter.feed(delta.content)
            delta.content = content or None
            if reasoning:
                delta.reasoning_content = reasoning
        if delta.content or delta.tool_calls or getattr(delta, "reasoning_content", None):
            if self.held is not None:
                yield self.held
            self.held = out
        else:
            if self.held is not None and out.choices[0].finish_reason:
                self.held.choices[0].finish_reason = out.choices[0].finish_reason
                return
            yield out

    def end(self) -> Iterator[ModelResponseStream]:
        if self.splitter is not None and self.held is not None:
            reasoning, content = self.splitter.flush()
            delta = self.held.choices[0].delta
            if content:
                delta.content = (delta.content or "") + content
            if reasoning:
                delta.reasoning_content = (getattr(delta, "reasoning_content", None) or "") + reasoning
        if self.held is not None:
            yield self.held
            self.held = None


def _chunks(
    stream: openai.Stream[openai.types.chat.ChatCompletionChunk], reasoning: bool, model: str | None = None
) -> Iterator[ModelResponseStream]:
    """The stream's chunks shaped for LiteLLM; a truncated or broken stream raises `LiteLLMKlusterStreamError`."""
    shaper = _StreamShaper(reasoning)
    try:
        with stream:
            for chunk in stream:
                yield from shaper.feed(chunk)
    except KlusterStreamError as exc:
        raise as_litellm_error(exc, model) from exc
    yield from shaper.end()


# -- model info ----------------------------------------------------------------------------
def model_info_entry(info: ModelInfo, settings: KlusterSettings) -> dict[str, Any]:
    """LiteLLM model-map entry for one catalog model on the settings' tier, with its real-time (and batch)
    price where one is known (`integrations._api.prices`; none rather than a made-up $0 elsewhere; a
    dedicated endpoint bills per minute, so it has no per-token price)."""
    limits = info.limits_for(settings.tier)
    if info.embedding:
        return {
            "litellm_provider": PROVIDER,
            "mode": "embedding",
            "output_vector_size": info.dimensions,
            **({"max_input_tokens": limits.context, "max_tokens": limits.context} if limits else {}),
        }
    entry: dict[str, Any] = {
        "litellm_provider": PROVIDER,
        "mode": "chat",
        "supports_function_calling": supports_tools(info, settings),
        "supports_tool_choice": supports_tools(info, settings),
        "supports_parallel_function_calling": supports_tools(info, settings),
        "supports_vision": info.vision,
        "supports_reasoning": info.reasoning,
        "supports_response_schema": True,  # json_schema served by a forced tool call or prompted JSON
        "supports_system_messages": True,
    }
    price = price_of(info.id)
    if price is not None:
        entry.update(input_cost_per_token=price.input_per_token, output_cost_per_token=price.output_per_token)
    batch_price = price_of(info.id, mode="batch")  # LiteLLM's batch-cost fields; none published, so usually unset
    if batch_price is not None:
        entry.update(
            input_cost_per_token_batches=batch_price.input_per_token,
            output_cost_per_token_batches=batch_price.output_per_token,
        )
    if limits is not None:
        entry.update(
            max_input_tokens=limits.context,
            max_output_tokens=limits.max_output,
            max_tokens=limits.max_output,
            rpm=limits.rpm,
        )
    return {k: v for k, v in entry.items() if v is not None}


def model_map(settings: KlusterSettings | None = None) -> dict[str, dict[str, Any]]:
    """`kluster/<id>` (and `kluster/<alias>`) -> model-map entry, for every catalog model."""
    settings = resolve_settings(settings)
    entries: dict[str, dict[str, Any]] = {}
    for info in list_models():
        entry = model_info_entry(info, settings)
        for name in (info.id, *info.aliases):
            entries[PREFIX + name] = entry
    return entries


_register_lock = threading.Lock()


def _installed_handler() -> KlusterLLM | None:
    for item in litellm.custom_provider_map:
        if item["provider"] == PROVIDER and isinstance(item["custom_handler"], KlusterLLM):
            return item["custom_handler"]
    return None


def register(settings: KlusterSettings | None = None, **overrides: Any) -> KlusterLLM:
    """Make `litellm.completion/acompletion(model="kluster/<model>")` work (idempotent).

    Adds the `kluster` provider to `litellm.custom_provider_map` (once; a second call updates
    its settings) and the catalog's context window, max output and capabilities to LiteLLM's
    model map, so `litellm.get_model_info("kluster/<id>")` and `supports_function_calling`
    answer from the catalog. Without `settings`, KLUSTER_* variables are read at call time.
    """
    settings = resolve_settings(settings, **overrides) if (settings or overrides) else None
    with _register_lock:
        handler = _installed_handler()
        if handler is None:
            handler = KlusterLLM(settings)
            litellm.custom_provider_map = [
                *(item for item in litellm.custom_provider_map if item["provider"] != PROVIDER),
                {"provider": PROVIDER, "custom_handler": handler},
            ]
        else:
            handler.settings = settings
        custom_llm_setup()
        _register_model_map(settings)
        _install_supported_params()
        _install_param_passthrough()
        _install_model_lookups()
        _install_message_check()
    return handler


# What a kluster chat request may carry, per the docs' compatibility page (no n, store, stream_options,
# audio, modalities, service_tier...) and the catalog (tools on some models, reasoning_effort on
# reasoning models, dropped by compat with a warning since the docs document no such parameter).
_BASE_PARAMS = (
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "seed",
    "stop",
    "stream",
    "temperature",
    "top_p",
    "response_format",  # json_object natively (observed); json_schema via a tool call or prompted JSON
    "max_retries",
    "extra_headers",
    "user",
)
_TOOL_PARAMS = ("tools", "tool_choice", "parallel_tool_calls", "functions", "function_call")


def supported_openai_params(model: str, settings: KlusterSettings | None = None) -> list[str]:
    """The OpenAI parameters a `kluster/<model>` call takes (`litellm.get_supported_openai_params`)."""
    info = get_model(model_name(model))
    params = list(_BASE_PARAMS)
    if supports_tools(info, settings):
        params += _TOOL_PARAMS
    if info.reasoning:
        params.append("reasoning_effort")
    return params


_patch_lock = threading.Lock()


def _install_supported_params() -> None:
    """Answer `litellm.get_supported_openai_params(model, "kluster")` from the catalog. LiteLLM has no
    plug-in point for a custom provider's list (it answers OpenAI's full list), so the names it is
    called by are wrapped once; every other provider passes through untouched.

    The public name gives kluster's list. LiteLLM's own request check (`litellm.utils`) keeps the
    OpenAI-like list plus `reasoning_effort` on reasoning models: what kluster does not accept is
    then dropped, translated or refused by compat with a typed error saying what to do, rather than
    by LiteLLM's generic UnsupportedParamsError."""
    import litellm.utils as litellm_utils

    with _patch_lock:
        original = litellm_utils.get_supported_openai_params
        if getattr(original, "_kluster", False):
            return

        def get_supported_openai_params(
            model: str, custom_llm_provider: str | None = None, *args: Any, _adapter: bool = True, **kwargs: Any
        ) -> list[str] | None:
            if custom_llm_provider == PROVIDER or (custom_llm_provider is None and model.startswith(PREFIX)):
                if not _adapter:
                    return supported_openai_params(model, _installed_settings())
                params = list(original(model, custom_llm_provider, *args, **kwargs) or [])
                if get_model(model_name(model)).reasoning and "reasoning_effort" not in params:
                    params.append("reasoning_effort")
                return params
            return original(model, custom_llm_provider, *args, **kwargs)

        def public(model: str, custom_llm_provider: str | None = None, *args: Any, **kwargs: Any) -> list[str] | None:
            return get_supported_openai_params(model, custom_llm_provider, *args, _adapter=False, **kwargs)

        get_supported_openai_params._kluster = True  # type: ignore[attr-defined]
        public._kluster = True  # type: ignore[attr-defined]
        litellm_utils.get_supported_openai_params = get_supported_openai_params
        litellm.get_supported_openai_params = public


# LiteLLM's own handling of these stays: it renames max_completion_tokens to max_tokens (compat
# translates it back) and turns a pydantic response_format into a json_schema dict.
_LITELLM_MAPPED = frozenset({"max_completion_tokens", "messages", "model", "custom_llm_provider", "api_version"})


def _install_param_passthrough() -> None:
    """Let every OpenAI parameter of a `kluster/` call reach the handler, so compat decides about it.

    For a provider outside its own list, LiteLLM keeps only its generic OpenAI-compatible list
    (`OpenAILikeChatConfig`): `user` and `reasoning_effort` vanish without a word. Its documented
    opt-in for passing a parameter through as is, `allowed_openai_params`, is filled with the
    OpenAI parameters the call set; compat then sends, translates, drops with a warning or refuses
    (or, with `drop_params`, drops what it would refuse). Other providers pass through untouched."""
    import litellm.main as litellm_main
    from litellm.constants import DEFAULT_CHAT_COMPLETION_PARAM_VALUES

    with _patch_lock:
        original = litellm_main.get_optional_params
        if getattr(original, "_kluster", False):
            return

        def get_optional_params(*args: Any, **kwargs: Any) -> dict[str, Any]:
            if kwargs.get("custom_llm_provider") == PROVIDER:
                passed = [
                    name
                    for name, default in DEFAULT_CHAT_COMPLETION_PARAM_VALUES.items()
                    if name not in _LITELLM_MAPPED and kwargs.get(name, default) not in (default, None)
                ]
                kwargs["allowed_openai_params"] = [*(kwargs.get("allowed_openai_params") or []), *passed]
            params: dict[str, Any] = original(*args, **kwargs)
            return params

        get_optional_params._kluster = True  # type: ignore[attr-defined]
        litellm_main.get_optional_params = get_optional_params


def valid_models() -> list[str]:
    """`kluster/<id>` for every chat and embedding model of the catalog (and registered ones)."""
    return [PREFIX + info.id for info in list_models() if not info.verify]


def _lazy_entry(model: str) -> None:
    """Add a fine-tuned or dedicated model (its base model's capabilities) to LiteLLM's model map on
    first use; names that reveal no base model stay unmapped (LiteLLM then says it does not know)."""
    key = PREFIX + model_name(model)
    if key in litellm.model_cost:
        return
    info = get_model(model_name(model))
    if info.kind not in ("fine-tuned", "dedicated") or info.base_model is None:
        return
    _register_entries({key: model_info_entry(info, resolve_settings(_installed_settings()))})


def _install_model_lookups() -> None:
    """`litellm.get_valid_models(custom_llm_provider="kluster")` lists the catalog (LiteLLM only asks
    its built-in providers and answers [] for a custom one), and model-info lookups of `kluster/`
    fine-tuned and dedicated names register them first (`_lazy_entry`)."""
    import litellm.utils as litellm_utils

    with _patch_lock:
        original_valid = litellm_utils.get_valid_models
        if getattr(original_valid, "_kluster", False):
            return

        def get_valid_models(*args: Any, **kwargs: Any) -> list[str]:
            if kwargs.get("custom_llm_provider") == PROVIDER:
                return valid_models()
            return original_valid(*args, **kwargs)

        original_info = litellm_utils._get_model_info_helper

        def _get_model_info_helper(model: str, custom_llm_provider: str | None = None, **kwargs: Any) -> Any:
            if custom_llm_provider == PROVIDER or (custom_llm_provider is None and model.startswith(PREFIX)):
                _lazy_entry(model)
            return original_info(model, custom_llm_provider=custom_llm_provider, **kwargs)

        get_valid_models._kluster = True  # type: ignore[attr-defined]
        litellm_utils.get_valid_models = get_valid_models
        litellm.get_valid_models = get_valid_models
        litellm_utils._get_model_info_helper = _get_model_info_helper  # type: ignore[assignment]


def _is_kluster_call(model: Any, custom_llm_provider: Any) -> bool:
    return custom_llm_provider == PROVIDER or (
        custom_llm_provider is None and isinstance(model, str) and model.startswith(PREFIX)
    )


_CHAT_CALLS = frozenset({"completion", "acompletion"})


def _install_message_check() -> None:
    """Refuse a `kluster/` chat call whose `messages` is not a list of messages, before LiteLLM reads it.

    LiteLLM cleans `messages` up (`validate_and_fix_openai_messages`) before any provider is called and
    crashes untyped on a string, a dict or an int (an `AttributeError`, reported by `acompletion` as a
    connection error). Its per-call setup (`function_setup`) is the first step that sees the model, so
    it is wrapped once; other providers pass through untouched."""
    import litellm.utils as litellm_utils

    with _patch_lock:
        original = litellm_utils.function_setup
        if getattr(original, "_kluster", False):
            return

        def function_setup(original_function: str, *args: Any, **kwargs: Any) -> Any:
            if original_function in _CHAT_CALLS:
                call_args = args[2:]  # after rules_obj and start_time: LiteLLM's own (model, messages, ...)
                model = call_args[0] if call_args else kwargs.get("model")
                messages = call_args[1] if len(call_args) > 1 else kwargs.get("messages", [])
                if _is_kluster_call(model, kwargs.get("custom_llm_provider")):
                    try:
                        check_message_list(messages)
                    except KlusterInvalidRequestError as exc:
                        raise LiteLLMKlusterInvalidRequestError(exc, model) from None
            return original(original_function, *args, **kwargs)

        function_setup._kluster = True  # type: ignore[attr-defined]
        litellm_utils.function_setup = function_setup


def _installed_settings() -> KlusterSettings | None:
    handler = _installed_handler()
    return handler.settings if handler is not None else None


def _register_model_map(settings: KlusterSettings | None) -> None:
    _register_entries(model_map(settings))


def _register_entries(entries: dict[str, dict[str, Any]]) -> None:
    import logging

    # register_model warns per entry that cache pricing defaults to 0 (kluster has no cache prices).
    logger = logging.getLogger("LiteLLM")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        litellm.register_model(entries)
    finally:
        logger.setLevel(level)


def ensure_registered() -> KlusterLLM:
    """The installed handler; registers one reading KLUSTER_* at call time if there is none."""
    handler = _installed_handler()
    return handler if handler is not None else register()
