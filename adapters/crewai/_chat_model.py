"""`KlusterCompletion`: CrewAI's native OpenAI LLM aimed at kluster.ai.

CrewAI's `LLM(...)` factory returns an `OpenAICompletion` for OpenAI-compatible endpoints;
this subclass keeps all of its behaviour (events, hooks, ReAct and native tool loops, token
accounting) and changes only what kluster needs:

- key and base URL come from `KlusterSettings` — never from OPENAI_API_KEY / OPENAI_BASE_URL;
- reasoning models: `call()` returns the answer without the inline `<think>` block, kept in
  `last_reasoning`; CrewAI's `timeout=` reaches the kluster client (KLUSTER_TIMEOUT otherwise);
- the openai clients are ours (`make_client` / `make_async_client`), so every request goes
  through `compat.prepare_chat_request` (stream usage asked for or estimated, `max_tokens` translated,
  unsupported parameters refused before the network); constructor parameters are checked
  at construction time with `compat.check_chat_request` (a pure check, no second compat pass);
- capabilities come from the model catalog: native function calling only where the model has
  tools (otherwise CrewAI falls back to its ReAct text tools), context window, vision;
- tools go as CrewAI builds them (`strict` included: compat decides for every adapter alike), and a
  `tool_choice` given to `kluster_llm` is sent instead of CrewAI's fixed "auto";
- CrewAI's `interceptor=` sees every request and response, on the shared client (`_interception.py`);
- `response_model` (Task `output_pydantic`, converters) is served without `response_format`,
  which kluster refuses: a forced tool call on tool models, prompted JSON elsewhere
  (`structured_output.py`).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, cast

import openai
from crewai.llms.context_window import CONTEXT_WINDOW_USAGE_RATIO
from crewai.llms.providers.openai.completion import OpenAICompletion
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, field_validator, model_validator

from kluster_agents.adapters.crewai._interception import AsyncInterceptedClient, InterceptedClient
from kluster_agents.adapters.crewai._reasoning_stream import SplittingClient, StreamSplit, active_split
from kluster_agents.adapters.crewai._structured_output import StructuredOutputRun
from kluster_agents.integrations._api.catalog import DEFAULT_MODEL, ModelInfo, get_model, supports_tools
from kluster_agents.integrations._api.client import (
    make_async_client,
    make_client,
    shared_async_http_client,
    shared_http_client,
)
from kluster_agents.integrations._api.compat import check_chat_request
from kluster_agents.integrations._api.errors import KlusterError, KlusterTimeoutError, KlusterUnsupportedError
from kluster_agents.integrations._api.openai_errors import raise_typed
from kluster_agents.integrations._api.reasoning import split_reasoning
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode, with_adaptive
from kluster_agents.integrations._version import product

_PROBE_MESSAGES = [{"role": "user", "content": "ping"}]
_PROBE_TOOL = {"name": "probe", "description": "probe", "parameters": {"type": "object", "properties": {}}}
_TOOL_ONLY_PARAMS = frozenset({"tool_choice", "parallel_tool_calls"})


# Not a secret: stands in for the key in checkpoints so no other provider's key is sent to kluster.
RESTORE_PLACEHOLDER_KEY = "restore-with-kluster_llm"


class KlusterCompletion(OpenAICompletion):
    """A CrewAI LLM for kluster.ai. Build it with `kluster_llm(model, **params)`."""

    kluster_settings: KlusterSettings | None = Field(default=None, exclude=True, repr=False)
    api_key: str | None = Field(default=None, exclude=True, repr=False)
    structured_output_retries: int = Field(
        default=2, ge=0, description="Extra attempts when structured output is invalid."
    )

    adaptive: AdaptiveMode | None = Field(default=None, exclude=True)
    """Adaptive inference: each request is queued with kluster's async metadata and its real answer
    awaited (True for the defaults, or an `AdaptiveMode` / its fields as a dict)."""

    last_reasoning: str | None = Field(default=None, exclude=True, repr=False)
    """The `<think>` reasoning of the last `call()`/`acall()` of a reasoning model (None without one)."""

    _async_loop: Any = PrivateAttr(default=None)
    _http_clients: tuple[Any, Any] | None = PrivateAttr(default=None)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:  # surface our typed error (no key, refused parameter) as itself
            cause = _kluster_error_in(exc)
            if cause is None:
                raise
            raise cause from None

    @model_validator(mode="before")
    @classmethod
    def _fill_from_kluster_settings(cls, data: Any) -> Any:
        """Key, base URL and the canonical model id from our settings (CrewAI would otherwise
        fall back to OPENAI_API_KEY and send it to kluster)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        settings = resolve_settings(
            data.get("kluster_settings"),
            api_key=data.get("api_key"),
            base_url=data.get("base_url") or data.get("api_base"),
        )
        data.update(
            kluster_settings=settings,
            api_key=settings.require_api_key(),
            base_url=settings.base_url,
            api_base=None,
            custom_openai=True,  # an OpenAI-compatible server: no Responses-API fallback
            provider="openai",
            model=get_model(DEFAULT_MODEL if data.get("model") is None else data["model"]).id,  # "" is refused
            max_retries=data.get("max_retries", settings.max_retries),
        )
        return data

    @field_validator("adaptive", mode="before")
    @classmethod
    def _coerce_adaptive(cls, value: Any) -> AdaptiveMode | None:
        return AdaptiveMode.coerce(value)

    @model_validator(mode="after")
    def _init_clients(self) -> KlusterCompletion:  # replaces OpenAICompletion._init_clients
        """Build the sync client now; the async one per event loop on first use (a pool cannot cross loops)."""
        self._client = self._build_sync_client()
        return self

    @model_validator(mode="after")
    def _check_params_with_compat(self) -> KlusterCompletion:
        """Refuse constructor parameters kluster does not accept now, not at the first call."""
        if self.adaptive is not None and self.stream:
            raise KlusterUnsupportedError(
                f"{self.model}: adaptive inference answers with the whole completion once its job is done, "
                "so it cannot stream; pass stream=False with adaptive=, or drop adaptive= to stream.",
                parameter="stream",
                model=self.model,
            )
        tool_only = _TOOL_ONLY_PARAMS & self.additional_params.keys()
        probe = self._prepare_completion_params(
            messages=list(_PROBE_MESSAGES), tools=[_PROBE_TOOL] if tool_only else None
        )
        if self.n is not None:
            probe["n"] = self.n
        check_chat_request(probe, settings=self.settings)  # a pure check: compat itself runs once per request
        return self

    def to_config_dict(self) -> dict[str, Any]:
        """What CrewAI checkpoints rebuild with `LLM(**config)`. That rebuilds a plain OpenAI LLM,
        which would take `OPENAI_API_KEY` and send it to kluster; the placeholder key makes the
        restored LLM fail with a 401 instead (re-attach `kluster_llm(...)` after restoring)."""
        return {**super().to_config_dict(), "api_key": RESTORE_PLACEHOLDER_KEY}

    @property
    def settings(self) -> KlusterSettings:
        assert self.kluster_settings is not None  # set by the before-validator
        return self.kluster_settings

    @property
    def model_info(self) -> ModelInfo:
        return get_model(self.model)

    # -- clients -------------------------------------------------------------------------------

    def use_http_clients(self, sync_http: Any, async_http: Any) -> None:
        """Send this LLM's requests over the given httpx clients (tests, benchmarks, batching)."""
        self._http_clients = (sync_http, async_http)
        self._client = self._build_sync_client()
        self._async_client = None

    def _timeouts(self) -> dict[str, float]:
        """CrewAI's `timeout=` (seconds) for the kluster client; KLUSTER_TIMEOUT when not given."""
        if self.timeout is None:
            return {}
        seconds = float(self.timeout)
        return {"timeout": seconds, "connect_timeout": min(seconds, self.settings.connect_timeout)}

    def _build_sync_client(self) -> Any:
        http = self._http_clients[0] if self._http_clients else None
        if self.interceptor is not None:
            http = InterceptedClient(http or shared_http_client(self.settings), self.interceptor)
        return make_client(
            self.settings,
            http_client=http,
            max_retries=self.max_retries,
            user_agent=product("crewai"),
            **self._timeouts(),
        )

    def _build_async_client(self) -> Any:
        http = self._http_clients[1] if self._http_clients else None
        if self.interceptor is not None:
            http = AsyncInterceptedClient(http or shared_async_http_client(self.settings), self.interceptor)
        return make_async_client(
            self.settings,
            http_client=http,
            max_retries=self.max_retries,
            user_agent=product("crewai"),
            **self._timeouts(),
        )

    # -- reasoning models: the answer without its <think> block ---------------------------------

    def _answer(self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A whole answer's `<think>` block goes to `last_reasoning` and, as one CrewAI thinking
        event, to listeners (as a streamed one does chunk by chunk)."""
        if not isinstance(result, str) or not self.model_info.reasoning:
            return result
        split = split_reasoning(result)
        if split.reasoning is None:  # a streamed answer was split as it came (last_reasoning is set)
            return result
        self.last_reasoning = split.reasoning
        self._emit_thinking_chunk_event(
            chunk=split.reasoning,
            from_task=kwargs.get("from_task", args[4] if len(args) > 4 else None),
            from_agent=kwargs.get("from_agent", args[5] if len(args) > 5 else None),
        )
        return split.content

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """CrewAI's `call`; a reasoning model's answer comes without `<think>…</think>` (see `last_reasoning`)."""
        self.last_reasoning = None
        try:
            return self._answer(super().call(*args, **kwargs), args, kwargs)
        except ConnectionError as exc:
            raise _typed_timeout(exc) from exc

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        self.last_reasoning = None
        try:
            return self._answer(await super().acall(*args, **kwargs), args, kwargs)
        except ConnectionError as exc:
            raise _typed_timeout(exc) from exc

    # -- reasoning models' streams: thinking as CrewAI thinking events, content without <think> ---

    def _stream_split(self, from_task: Any, from_agent: Any) -> StreamSplit | None:
        if not self.model_info.reasoning:
            return None

        def on_thinking(text: str, response_id: str | None) -> None:
            self._emit_thinking_chunk_event(
                chunk=text, from_task=from_task, from_agent=from_agent, response_id=response_id
            )

        return StreamSplit(self, on_thinking)

    def _get_sync_client(self) -> Any:
        client = super()._get_sync_client()
        split = active_split.get()
        return client if split is None or split.owner is not self else SplittingClient(client, split, is_async=False)

    def _get_async_client(self) -> Any:
        client = self._get_loop_async_client()
        split = active_split.get()
        return client if split is None or split.owner is not self else SplittingClient(client, split, is_async=True)

    def _get_loop_async_client(self) -> Any:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        known = self._async_loop() if self._async_loop is not None else None
        if self._async_client is None or known is not loop:
            self._async_client = self._build_async_client()
            self._async_loop = weakref.ref(loop) if loop is not None else None
        return self._async_client

    # -- capabilities from the catalog ---------------------------------------------------------

    def supports_function_calling(self) -> bool:
        return supports_tools(self.model_info, self.settings)

    def supports_multimodal(self) -> bool:
        return self.model_info.vision

    def get_context_window_size(self) -> int:
        limits = self.model_info.limits_for(self.settings.tier)
        if limits is None or not limits.context:
            return super().get_context_window_size()
        return int(limits.context * CONTEXT_WINDOW_USAGE_RATIO)

    def get_input_tokens_count(self, messages: Any, tools: Any = None, response_model: Any = None) -> int:
        """kluster has no token-count endpoint: CrewAI's own 4-characters-per-token estimate,
        without the warning CrewAI logs on every call for compatible servers."""
        from crewai.utilities.message_utils import message_content_text

        if isinstance(messages, str):
            return (len(messages) + 3) // 4
        return (sum(len(message_content_text(m)) for m in messages) + 3) // 4

    def _prepare_completion_params(
        self, messages: list[Any], tools: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        params = super()._prepare_completion_params(messages, tools)
        # CrewAI always asks for stream usage; the kluster client asks for it itself (or estimates it)
        params.pop("stream_options", None)
        for name in _TOOL_ONLY_PARAMS & self.additional_params.keys():
            if tools:  # the user's choice, not CrewAI's fixed "auto"
                params[name] = self.additional_params[name]
            else:  # they go with tools; CrewAI sends none on this call (ReAct, or a plain call)
                params.pop(name, None)
        if self.adaptive is not None:
            params = with_adaptive(params, self.adaptive)
        return params

    # -- structured output without response_format ---------------------------------------------

    def _structured_run(self, params: dict[str, Any], response_model: type[BaseModel]) -> StructuredOutputRun:
        return StructuredOutputRun(
            params, response_model, use_tools=self.supports_function_calling(), retries=self.structured_output_retries
        )

    def _finish_structured(self, run: StructuredOutputRun, from_task: Any, from_agent: Any) -> BaseModel:
        from crewai.events.types.llm_events import LLMCallType
        from crewai.utilities.types import LLMMessage

        result = run.result
        assert result is not None, "a StructuredOutputRun ends with a validated result or raises"
        self._track_token_usage_internal(run.usage)
        self._emit_call_completed_event(
            response=result.model_dump_json(),
            call_type=LLMCallType.LLM_CALL,
            from_task=from_task,
            from_agent=from_agent,
            messages=cast("list[LLMMessage]", run.messages),  # OpenAI chat messages, CrewAI's LLMMessage shape
            usage=run.usage,
        )
        return result

    def _structured(
        self, params: dict[str, Any], response_model: type[BaseModel], from_task: Any, from_agent: Any
    ) -> BaseModel:
        run = self._structured_run(params, response_model)
        client = self._get_sync_client()
        for request in run:
            run.receive(client.chat.completions.create(**request))
        return self._finish_structured(run, from_task, from_agent)

    async def _astructured(
        self, params: dict[str, Any], response_model: type[BaseModel], from_task: Any, from_agent: Any
    ) -> BaseModel:
        run = self._structured_run(params, response_model)
        client = self._get_async_client()
        for request in run:
            run.receive(await client.chat.completions.create(**request))
        return self._finish_structured(run, from_task, from_agent)

    def _handle_completion(
        self,
        params: dict[str, Any],
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        if response_model is not None:
            return self._structured(params, response_model, from_task, from_agent)
        try:
            return super()._handle_completion(params, available_functions, from_task, from_agent)
        except Exception as exc:
            raise_typed(exc)
            raise

    def _handle_streaming_completion(
        self,
        params: dict[str, Any],
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        if response_model is not None:  # validated output cannot be streamed piecewise
            return self._structured(params, response_model, from_task, from_agent)
        split = self._stream_split(from_task, from_agent)
        token = active_split.set(split)
        try:
            return super()._handle_streaming_completion(params, available_functions, from_task, from_agent)
        except Exception as exc:
            raise_typed(exc)
            raise
        finally:
            active_split.reset(token)
            if split is not None:
                self.last_reasoning = split.reasoning

    async def _ahandle_completion(
        self,
        params: dict[str, Any],
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        if response_model is not None:
            return await self._astructured(params, response_model, from_task, from_agent)
        try:
            return await super()._ahandle_completion(params, available_functions, from_task, from_agent)
        except Exception as exc:
            raise_typed(exc)
            raise

    async def _ahandle_streaming_completion(
        self,
        params: dict[str, Any],
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        if response_model is not None:
            return await self._astructured(params, response_model, from_task, from_agent)
        split = self._stream_split(from_task, from_agent)
        token = active_split.set(split)
        try:
            return await super()._ahandle_streaming_completion(params, available_functions, from_task, from_agent)
        except Exception as exc:
            raise_typed(exc)
            raise
        finally:
            active_split.reset(token)
            if split is not None:
                self.last_reasoning = split.reasoning


class KlusterCrewTimeoutError(KlusterTimeoutError, ConnectionError):
    """A CrewAI call timed out: a `KlusterTimeoutError`, and still the `ConnectionError` CrewAI raises."""


def _typed_timeout(exc: ConnectionError) -> BaseException:
    """CrewAI wraps an openai timeout into a plain ConnectionError; give it its kluster type back."""
    if isinstance(exc.__cause__, openai.APITimeoutError):
        return KlusterCrewTimeoutError(
            f"kluster.ai did not answer within the timeout ({exc}); raise `timeout=` or KLUSTER_TIMEOUT, or retry later."
        )
    return exc


def _kluster_error_in(exc: ValidationError) -> KlusterError | None:
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, KlusterError):
            return cause
    return None


def kluster_llm(
    model: str = DEFAULT_MODEL,
    *,
    settings: KlusterSettings | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    **params: Any,
) -> KlusterCompletion:
    """A CrewAI LLM for a kluster.ai model, usable as `Agent(llm=...)` or `Crew(manager_llm=...)`.

    `model` is any catalog name or alias (`kluster-agents models`), fine-tuned name or
    endpoint ID. `params` are CrewAI LLM parameters (temperature, max_tokens, stream, seed,
    ...); anything kluster does not accept raises `KlusterUnsupportedError` here. Key and base
    URL come from `settings` / KLUSTER_API_KEY / KLUSTER_BASE_URL unless given.
    """
    settings = resolve_settings(settings, api_key=api_key, base_url=base_url)
    return KlusterCompletion(model=model, kluster_settings=settings, **params)
