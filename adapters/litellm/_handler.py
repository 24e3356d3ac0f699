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
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from litellm import CustomLLM
from litellm.types.utils import EmbeddingResponse, ModelResponse, ModelResponseStream

from kluster_agents.adapters.litellm._errors import as_litellm_error
from kluster_agents.adapters.litellm._model_map import model_name
from kluster_agents.adapters.litellm._request import (
    create_kwargs,
    drop_refused,
    embedding_kwargs,
    is_litellm_default_timeout,
    wants_drop_params,
)
from kluster_agents.adapters.litellm._response import (
    body_to_model_response,
    to_embedding_response,
    to_model_response,
    with_batch_cost,
)
from kluster_agents.adapters.litellm._stream import achunks, body_chunk, chunks
from kluster_agents.adapters.litellm._structured_output import (
    PromptedRun,
    SchemaRequest,
    schema_request,
    tool_call_to_content,
    tool_kwargs,
)
from kluster_agents.integrations._api.adaptive_requests import requested_adaptive
from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.errors import (
    KlusterConfigError,
    KlusterInvalidRequestError,
    KlusterResponseError,
    KlusterTimeoutError,
    KlusterUnsupportedError,
)
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._version import product

if TYPE_CHECKING:
    from kluster_agents.integrations._api.kluster_openai import AsyncKlusterOpenAI, KlusterOpenAI

_PRE_NETWORK_ERRORS = (KlusterUnsupportedError, KlusterInvalidRequestError, KlusterConfigError)

_KEY = tuple[int, int | None]  # (id of the settings object the entry holds, max_retries)


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
            if timeout is None or is_litellm_default_timeout(timeout):  # not the caller's choice: KLUSTER_TIMEOUT
                timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
            kwargs = create_kwargs(model, messages, optional_params, headers, timeout)
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
        """Settings, retries and `embeddings.create` kwargs."""
        settings = self._keyed_settings(model, api_base, api_key)
        return settings, optional_params.get("max_retries"), embedding_kwargs(model, input, optional_params, timeout)

    @staticmethod
    def _create(client: KlusterOpenAI, kwargs: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """The answer's JSON body and headers. An adaptive request's HTTP body is the service's
        placeholder: its answer is the completion the client waited for (no headers of its own)."""
        if requested_adaptive(kwargs):
            return client.chat.completions.create(**kwargs).model_dump(exclude_none=True), httpx.Headers()
        raw = client.chat.json_completions.with_raw_response.create(**kwargs)
        return raw.http_response.json(), raw.headers

    @staticmethod
    async def _acreate(client: AsyncKlusterOpenAI, kwargs: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        if requested_adaptive(kwargs):
            completion = await client.chat.completions.create(**kwargs)
            return completion.model_dump(exclude_none=True), httpx.Headers()
        raw = await client.chat.json_completions.with_raw_response.create(**kwargs)
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
                return body_to_model_response(body, raw_headers, model_response)
            if requested_adaptive(kwargs):
                body, raw_headers = self._create(self.sync_client(settings, retries), kwargs)
                return with_batch_cost(body_to_model_response(body, raw_headers, model_response))
            raw = self.sync_client(settings, retries).chat.json_completions.with_raw_response.create(**kwargs)
        return to_model_response(raw, model_response)

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
                return body_to_model_response(body, raw_headers, model_response)
            if requested_adaptive(kwargs):
                body, raw_headers = await self._acreate(self.async_client(settings, retries), kwargs)
                return with_batch_cost(body_to_model_response(body, raw_headers, model_response))
            raw = await self.async_client(settings, retries).chat.json_completions.with_raw_response.create(**kwargs)
        return to_model_response(raw, model_response)

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
                return iter([body_chunk(body)])
            kwargs["stream"] = True
            stream = self.sync_client(settings, retries).chat.completions.create(**kwargs)
        return chunks(stream, get_model(model_name(model)).reasoning, model)

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
            yield body_chunk(body)
            return
        kwargs["stream"] = True
        with _pre_network_errors(model):
            stream = await self.async_client(settings, retries).chat.completions.create(**kwargs)
        async for out in achunks(stream, get_model(model_name(model)).reasoning, model):
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
        return to_embedding_response(raw, model_response)

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
        return to_embedding_response(raw, model_response)


class _pre_network_errors:
    """Turn compat refusals into their LiteLLM-passable twins; HTTP errors pass untouched."""

    def __init__(self, model: str) -> None:
        self.model = model

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, (*_PRE_NETWORK_ERRORS, KlusterResponseError, KlusterTimeoutError)):
            raise as_litellm_error(exc, self.model) from None
