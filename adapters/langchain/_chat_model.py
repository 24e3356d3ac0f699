"""`ChatKluster`: kluster.ai as a LangChain chat model, in the style of the partner packages.

A `BaseChatOpenAI` subclass (like `ChatDeepSeek`/`ChatXAI`; not `ChatOpenAI`, whose payload and
structured-output defaults target OpenAI). What kluster changes:
- clients come from `kluster_agents.integrations._api.client` (compat-enforcing, shared pool, retries);
  chat completions come back as the JSON the service sent, which LangChain reads as it reads a dumped
  openai model (`KlusterJSONCompletions`: no model built per answer and per stream chunk);
- every request goes through `compat` exactly once, in the kluster openai client (drops, translations,
  refusals before the network); the payload names `max_completion_tokens`, as ChatOpenAI's does;
- capabilities (tools, vision, reasoning, limits) come from the model catalog;
- structured output never uses `response_format` (kluster refuses it): tool calling on models
  with tools, prompted JSON with validation and bounded retry elsewhere;
- kluster response extras (`stop_reason`, `prompt_logprobs`...) land in `response_metadata`;
- `.batch()/.abatch()` may run as one Batch API job (`batch=True`, or `KlusterBatchChat`), through
  the core batch seam (`integrations._jobs.batch_transport`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal, Self, cast

import httpx
import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams, LanguageModelInput, ModelProfile
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils import from_env, secret_from_env
from langchain_openai.chat_models.base import BaseChatOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator

from kluster_agents.adapters.langchain import _batch as batch_api
from kluster_agents.adapters.langchain._structured_output import prompted_json_message, prompted_structured_output
from kluster_agents.integrations._api.catalog import DEFAULT_MODEL, ModelInfo, get_model, supports_tools
from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterError, KlusterUnsupportedError
from kluster_agents.integrations._api.openai_errors import raise_typed
from kluster_agents.integrations._api.reasoning import ThinkSplitter, split_reasoning
from kluster_agents.integrations._api.settings import DEFAULT_BASE_URL, KlusterSettings, resolve_settings
from kluster_agents.integrations._api.stream_usage import ESTIMATED_FLAG
from kluster_agents.integrations._api.structured import DEFAULT_MAX_RETRIES, json_schema_of
from kluster_agents.integrations._api.tiers import Tier
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode, with_adaptive
from kluster_agents.integrations._version import __version__, product

PROVIDER = "kluster"
StructuredMethod = Literal["function_calling", "json_mode", "json_schema"]


class ChatKluster(BaseChatOpenAI):
    """kluster.ai chat model (OpenAI-compatible endpoint, https://api.kluster.ai/v1).

    Setup: `pip install "kluster-agents[langchain]"` and `export KLUSTER_API_KEY=...`
    (`KLUSTER_BASE_URL`, `KLUSTER_TIER` and the other `KLUSTER_*` settings are read too).

    ```python
    from kluster_agents.adapters.langchain import ChatKluster

    llm = ChatKluster(model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", temperature=0)
    llm.invoke("What is the capital of Nepal?")
    llm.bind_tools([get_weather]).invoke("Weather in Paris?")   # tool-capable models only
    llm.with_structured_output(Person).invoke("Ada Lovelace, 36")  # no response_format needed
    ChatKluster(batch=True).batch(prompts)                          # one Batch API job
    ```

    Reasoning models (DeepSeek-R1, Qwen3, Magistral): the inline `<think>…</think>` block (or a
    `reasoning_content` field) goes to `additional_kwargs["reasoning_content"]` and a `reasoning`
    content block, on invoke and stream, as in langchain-deepseek; `content` is the answer.

    Token usage: `usage_metadata` on invoke and after a stream. The client asks for stream usage
    where the service accepts `stream_options` and counts it client-side otherwise
    (`response_metadata["usage_estimated"]` is then True; see `KLUSTER_STREAM_USAGE`).
    """

    model_name: str = Field(default=DEFAULT_MODEL, alias="model")
    """kluster.ai model name (see `kluster-agents models`); aliases such as `llama-3.3-70b` work."""
    openai_api_key: SecretStr | None = Field(
        alias="api_key", default_factory=secret_from_env("KLUSTER_API_KEY", default=None)
    )
    """kluster.ai API key; read from `KLUSTER_API_KEY` when not given."""
    openai_api_base: str = Field(
        alias="base_url", default_factory=from_env("KLUSTER_BASE_URL", default=DEFAULT_BASE_URL)
    )
    """API base URL; read from `KLUSTER_BASE_URL` when not given."""
    tier: Tier | None = None
    """Your kluster.ai plan (limits per model); `KLUSTER_TIER` when not given."""
    kluster_settings: KlusterSettings | None = Field(default=None, alias="settings", exclude=True)
    """Full `KlusterSettings` (compat modes, timeouts); explicit arguments above override it."""
    use_responses_api: bool | None = False
    """kluster.ai has no Responses API: requests always use Chat Completions."""
    stream_usage: bool | None = False
    """LangChain's own `stream_options` switch stays off: the kluster client decides (`KLUSTER_STREAM_USAGE`)."""
    structured_output_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=0)
    """Extra attempts when prompted-JSON structured output fails to parse or validate."""
    use_batch_api: bool = Field(default=False, alias="batch")
    """Route `.batch()/.abatch()` through the Batch API (one job, results in input order)."""
    batch_completion_window: str = "24h"
    """Batch API completion window for `.batch()` in batch mode."""
    batch_progress: bool | None = None
    """Show a progress display while a `batch=True` job runs: None (default) follows the `progress`
    setting (KLUSTER_PROGRESS; 'auto': only on a terminal), True/False force it."""
    batch_poll_interval: float | None = None
    """Seconds between batch status polls (None: the engine's backoff)."""
    batch_timeout: float | None = Field(default=None, gt=0)
    """Seconds `.batch()` in batch mode waits for a job before its lines fail with `KlusterTimeoutError`
    (the job keeps running on kluster.ai; its id is in the message). None: until the job ends."""
    adaptive: AdaptiveMode | None = None
    """Adaptive (async) inference for every call: True, an `AdaptiveMode`, or its fields as a dict.
    invoke/ainvoke then wait for the job and return the real answer; per call: `.bind(adaptive=...)`."""

    model_config = ConfigDict(populate_by_name=True)

    _settings: KlusterSettings | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _request_metadata_to_body(cls, values: Any) -> Any:
        """`model_kwargs={"metadata": ...}` is request metadata (e.g. kluster's adaptive options):
        send it in `extra_body`, since LangChain would otherwise take it for its own tracing
        `metadata` field and never send it."""
        if not isinstance(values, dict) or not isinstance(values.get("model_kwargs"), dict):
            return values
        model_kwargs = dict(values["model_kwargs"])
        if "metadata" not in model_kwargs:
            return values
        extra_body = dict(values.get("extra_body") or {})
        extra_body["metadata"] = {**model_kwargs.pop("metadata"), **(extra_body.get("metadata") or {})}
        return {**values, "model_kwargs": model_kwargs, "extra_body": extra_body}

    @field_validator("adaptive", mode="before")
    @classmethod
    def _coerce_adaptive(cls, value: Any) -> AdaptiveMode | None:
        return AdaptiveMode.coerce(value)

    def __init__(self, **kwargs: Any) -> None:
        """Invalid arguments raise the `KlusterError` that names the fix (not a pydantic ValidationError)."""
        model = kwargs.get("model", kwargs.get("model_name"))
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise KlusterConfigError(
                f"`model` must be a model id string (got {type(model).__name__} {model!r}); "
                "see `kluster-agents models`, e.g. klusterai/Meta-Llama-3.3-70B-Instruct-Turbo."
            )
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise _kluster_error_from(exc) or exc from None

    # -- identity and serialisation ---------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "chat-kluster"

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Constructor argument (and field) names of secrets, mapped to their env var."""
        return {"api_key": "KLUSTER_API_KEY", "openai_api_key": "KLUSTER_API_KEY"}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["kluster_agents", "adapters", "langchain"]

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)  # ls_model_name: kwargs["model"], else ours
        params["ls_provider"] = PROVIDER
        return params

    # -- configuration and clients -------------------------------------------------------------

    @property
    def settings(self) -> KlusterSettings:
        """The effective settings: explicit arguments, then `settings=`, then `KLUSTER_*` env."""
        if self._settings is None:
            self._settings = self._resolve_settings()
        return self._settings

    def _resolve_settings(self) -> KlusterSettings:
        explicit = self.model_fields_set
        overrides: dict[str, Any] = {"tier": self.tier}
        if "openai_api_key" in explicit and self.openai_api_key is not None:
            overrides["api_key"] = self.openai_api_key.get_secret_value()
        if "openai_api_base" in explicit:
            overrides["base_url"] = self.openai_api_base
        if self.max_retries is not None:
            overrides["max_retries"] = self.max_retries
        if isinstance(self.request_timeout, int | float) and not isinstance(self.request_timeout, bool):
            if self.request_timeout <= 0:
                raise KlusterConfigError(
                    f"timeout={self.request_timeout!r}: use a positive number of seconds (e.g. timeout=60)."
                )
            overrides["timeout"] = float(self.request_timeout)
        return resolve_settings(self.kluster_settings, **overrides)

    @model_validator(mode="after")
    def validate_environment(self) -> Self:
        """Build kluster clients (replaces the base validator, which would read OPENAI_* env).

        Without a key no client is built and the first call raises `KlusterConfigError`.
        """
        if self.n is not None and self.n != 1:
            raise KlusterUnsupportedError(
                f"n={self.n}: kluster.ai returns one choice per request; send separate requests (or a batch).",
                parameter="n",
                model=self.model_name,
            )
        settings = self.settings
        self.openai_api_key = settings.api_key
        self.openai_api_base = settings.base_url
        self.tier = settings.tier
        if not settings.has_api_key:
            return self
        timeout = _httpx_timeout(self.request_timeout)
        if not self.client:
            self.root_client = make_client(settings, http_client=self.http_client, **self._client_defaults())
            if timeout is not None:
                self.root_client.timeout = timeout
            self.client = self.root_client.chat.json_completions
        if not self.async_client:
            self.root_async_client = make_async_client(
                settings, http_client=self.http_async_client, **self._client_defaults()
            )
            if timeout is not None:
                self.root_async_client.timeout = timeout
            self.async_client = self.root_async_client.chat.json_completions
        return self

    def _client_defaults(self) -> dict[str, Any]:
        """Our User-Agent product and the user's `default_headers`/`default_query`, sent on every request."""
        return {
            "user_agent": _user_agent(),
            "default_headers": self.default_headers,
            "default_query": self.default_query,
        }

    @model_validator(mode="after")
    def _set_kluster_version(self) -> Self:
        self._add_version("kluster-agents", __version__)
        return self

    @property
    def model_info(self) -> ModelInfo:
        """Catalog entry of this model (capabilities and per-tier limits)."""
        return get_model(self.model_name)

    @property
    def supports_tools(self) -> bool:
        return supports_tools(self.model_info, self.settings)

    def _resolve_model_profile(self) -> ModelProfile | None:
        info = self.model_info
        tools = supports_tools(info, self.settings)
        profile = ModelProfile(
            name=info.display_name,
            text_inputs=True,
            text_outputs=True,
            image_inputs=info.vision,
            image_url_inputs=info.vision,
            pdf_inputs=False,
            audio_inputs=False,
            video_inputs=False,
            image_tool_message=False,
            pdf_tool_message=False,
            reasoning_output=info.reasoning,
            tool_calling=tools,
            tool_choice=tools,
            # Agents (`create_agent(response_format=...)`) take their answer from a tool call where the
            # model has tools (ToolStrategy); elsewhere from the message's JSON (ProviderStrategy), which
            # bind_tools produces by prompted JSON since kluster has no json_schema response_format.
            structured_output=not tools,
        )
        limits = info.limits_for(self.settings.tier)
        if limits is not None and limits.context:
            profile["max_input_tokens"] = limits.context
        if limits is not None and limits.max_output:
            profile["max_output_tokens"] = limits.max_output
        return profile

    # -- requests --------------------------------------------------------------------------------

    def _ensure_sync_client_available(self) -> None:
        if self.client is None:
            self.settings.require_api_key()
        super()._ensure_sync_client_available()

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        if self.root_client is None and self.root_async_client is None:
            self.settings.require_api_key()  # raises KlusterConfigError before any network
        mode = AdaptiveMode.coerce(kwargs.pop("adaptive")) if "adaptive" in kwargs else self.adaptive
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)  # compat runs once, in the client
        if "max_tokens" in payload and "max_completion_tokens" not in payload:
            # the current name, as ChatOpenAI sends it: a plain request then leaves compat unchanged
            payload["max_completion_tokens"] = payload.pop("max_tokens")
        if mode is not None:  # the kluster client sees the options, waits for the job, returns the answer
            extra_body = payload.get("extra_body")
            if isinstance(extra_body, dict) and "metadata" in extra_body:
                payload["extra_body"] = with_adaptive(dict(extra_body), mode)
            else:
                payload = with_adaptive(payload, mode)
        return payload

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        try:
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        except Exception as exc:
            raise_typed(exc)
            raise

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        try:
            return await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
        except Exception as exc:
            raise_typed(exc)
            raise

    # -- responses ------------------------------------------------------------------------------

    def _create_chat_result(
        self, response: dict[str, Any] | openai.BaseModel, generation_info: dict[str, Any] | None = None
    ) -> ChatResult:
        result = super()._create_chat_result(response, generation_info)
        if isinstance(response, dict):
            response_extras = _extras(response, _STANDARD_RESPONSE_KEYS)
            choices = response.get("choices") or []
            choice_extras = [_extras(c, _STANDARD_CHOICE_KEYS) for c in choices]
            reasonings = [(c.get("message") or {}).get("reasoning_content") for c in choices]
            _add_model_only_fields(result, response, choices)
        else:  # openai models keep unknown fields in model_extra (read directly): no second dump needed
            response_extras = response.__pydantic_extra__ or {}
            choices = getattr(response, "choices", None) or []
            choice_extras = [c.__pydantic_extra__ or {} for c in choices]
            reasonings = [(c.message.__pydantic_extra__ or {}).get("reasoning_content") for c in choices]
        for generation, extras, reasoning in zip(result.generations, choice_extras, reasonings, strict=False):
            metadata = generation.message.response_metadata
            metadata["model_provider"] = PROVIDER
            metadata.update(response_extras)
            metadata.update(extras)
            _move_reasoning(generation.message, reasoning, split_inline=True)
        return result

    # -- streams: reasoning split per stream -------------------------------------------------------

    def _splitter(self) -> ThinkSplitter | None:
        return ThinkSplitter() if self.model_info.reasoning else None

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        splitter = self._splitter()
        try:
            if splitter is None:  # chunks pass through untouched
                yield from super()._stream(*args, **kwargs)
                return
            for generation in super()._stream(*args, **kwargs):
                yield _split_chunk(generation, splitter)
        except Exception as exc:
            raise_typed(exc)
            raise
        if (tail := _flushed(splitter)) is not None:
            yield tail

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        splitter = self._splitter()
        try:
            async for generation in super()._astream(*args, **kwargs):
                yield generation if splitter is None else _split_chunk(generation, splitter)
        except Exception as exc:
            raise_typed(exc)
            raise
        if splitter is not None and (tail := _flushed(splitter)) is not None:
            yield tail

    def _convert_chunk_to_generation_chunk(
        self, chunk: dict[str, Any], default_chunk_class: type, base_generation_info: dict[str, Any] | None
    ) -> ChatGenerationChunk | None:
        generation = super()._convert_chunk_to_generation_chunk(chunk, default_chunk_class, base_generation_info)
        if generation is None:
            return None
        message = generation.message
        message.response_metadata["model_provider"] = PROVIDER  # every chunk: chunks merge equal providers only
        choices = chunk.get("choices")
        if not choices:  # the usage chunk (ours, when the server sent none, says it is estimated)
            if chunk.get(ESTIMATED_FLAG):
                message.response_metadata["usage_estimated"] = True
            return generation
        choice = choices[0]
        delta = choice["delta"]  # never None here: the parent returned None for that chunk
        if reasoning := delta.get("reasoning_content"):
            message.additional_kwargs["reasoning_content"] = reasoning
        if choice.get("finish_reason"):
            extras = {**_extras(chunk, _STANDARD_CHUNK_KEYS), **_extras(choice, _STANDARD_CHOICE_KEYS)}
            generation.generation_info = {**(generation.generation_info or {}), **extras}
        return generation

    # -- tools and structured output -------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: dict[str, Any] | type | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; refused up front (`KlusterUnsupportedError`) on models without tool calling.

        On those models, no tools with a `response_format` (what an agent binds for structured
        output) answers with prompted JSON instead: the message content is the validated JSON.
        """
        if not self.supports_tools and not tools and response_format is not None:
            bound = self.bind(**kwargs) if kwargs else self
            return prompted_json_message(bound, response_format, max_retries=self.structured_output_retries)
        if not self.supports_tools:
            raise KlusterUnsupportedError(
                f"{self.model_name} has no tool calling on kluster.ai. Fix: use a model with Tools in "
                f"`kluster-agents models` (e.g. {DEFAULT_MODEL}); for structured output use "
                "with_structured_output(), which falls back to prompted JSON.",
                parameter="tools",
                model=self.model_name,
            )
        return super().bind_tools(
            tools,
            tool_choice=tool_choice,
            strict=strict,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            **kwargs,
        )

    def with_structured_output(
        self,
        schema: Any = None,
        *,
        method: StructuredMethod = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Structured output without `response_format` (which kluster refuses).

        `function_calling`/`json_schema`: a forced tool call on models with tools, else prompted
        JSON; `json_mode`: prompted JSON (schema optional). Prompted JSON is validated and
        retried `structured_output_retries` times with feedback. `include_raw=True` returns
        `{"raw", "parsed", "parsing_error"}` as in LangChain.
        """
        if method not in ("function_calling", "json_mode", "json_schema"):
            raise ValueError(f"Unrecognized method {method!r}; use 'function_calling', 'json_schema' or 'json_mode'.")
        if schema is None and method != "json_mode":
            raise ValueError(f"schema must be specified when method is {method!r}.")
        if method != "json_mode" and self.supports_tools:
            return super().with_structured_output(
                schema, method="function_calling", include_raw=include_raw, strict=strict, **kwargs
            )
        # the tracing metadata LangChain's own structured output attaches (LangSmith, callbacks)
        traced = {"kwargs": {"method": method}, "schema": _traced_schema(schema)}
        bound = self.bind(ls_structured_output_format=traced, **kwargs)
        return prompted_structured_output(
            bound, schema, include_raw=include_raw, max_retries=self.structured_output_retries
        )

    # -- Batch API ------------------------------------------------------------------------------

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:
        if not self.use_batch_api or not inputs:
            return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        # LangChain types batch() as list[Output] although return_exceptions=True puts exceptions in it.
        return cast(
            "list[AIMessage]", batch_api.batch(self, inputs, config, return_exceptions=return_exceptions, **kwargs)
        )

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:
        if not self.use_batch_api or not inputs:
            return await super().abatch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        # As in batch(): LangChain's list[Output] leaves out the exceptions of return_exceptions=True.
        results = await batch_api.abatch(self, inputs, config, return_exceptions=return_exceptions, **kwargs)
        return cast("list[AIMessage]", results)


class KlusterBatchChat(ChatKluster):
    """`ChatKluster` whose `.batch()/.abatch()` always run as one Batch API job.

    Same messages, in input order, as the real-time path; per-item errors are returned under
    `return_exceptions=True`. `invoke`/`stream` stay real-time.
    """

    use_batch_api: bool = Field(default=True, alias="batch")

    @property
    def _llm_type(self) -> str:
        return "chat-kluster-batch"


# Fields of the OpenAI shapes; anything else kluster sends (`stop_reason`, `prompt_logprobs`...) is an extra.
_STANDARD_RESPONSE_KEYS = frozenset(ChatCompletion.model_fields) | frozenset(ChatCompletionChunk.model_fields)
_STANDARD_CHUNK_KEYS = _STANDARD_RESPONSE_KEYS
_STANDARD_CHOICE_KEYS = frozenset(Choice.model_fields) | frozenset(ChunkChoice.model_fields)


@functools.cache
def _user_agent() -> str:
    """Our User-Agent product, e.g. "langchain-core/1.7.2" (reading package metadata costs ~1 ms)."""
    return product("langchain-core")


def _httpx_timeout(value: Any) -> httpx.Timeout | None:
    """LangChain's `timeout=` forms other than seconds: an `httpx.Timeout` or a `(connect, read)` tuple.

    Plain seconds go through `KlusterSettings.timeout` (keeping KLUSTER_CONNECT_TIMEOUT)."""
    if isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        connect, read = value
        return httpx.Timeout(read, connect=connect)
    return None


def _traced_schema(schema: Any) -> Any:
    from langchain_core.utils.function_calling import convert_to_json_schema

    if schema is None:
        return None
    try:
        return convert_to_json_schema(schema)
    except Exception:  # a schema LangChain cannot convert still works for prompted JSON
        return json_schema_of(schema)


def _add_model_only_fields(result: ChatResult, response: dict[str, Any], choices: list[Any]) -> None:
    """What LangChain adds from an openai model and not from its JSON (our client hands it JSON): a
    message's `refusal` (None when absent) and a `system_fingerprint` of None rather than ""."""
    if result.llm_output is not None:
        result.llm_output["system_fingerprint"] = response.get("system_fingerprint")
    if result.generations and choices and isinstance(message := choices[0].get("message"), dict):
        result.generations[0].message.additional_kwargs["refusal"] = message.get("refusal")


def _move_reasoning(message: Any, reasoning: Any, *, split_inline: bool) -> None:
    """Reasoning into `additional_kwargs["reasoning_content"]` (a server field, else the inline block)."""
    if not isinstance(message, AIMessage) or not isinstance(message.content, str):
        return
    if isinstance(reasoning, str) and reasoning:
        message.additional_kwargs["reasoning_content"] = reasoning
        return
    if split_inline and "think>" in message.content:  # `<think>` or a template-opened `</think>`
        split = split_reasoning(message.content)
        if split.reasoning is not None:
            message.additional_kwargs["reasoning_content"] = split.reasoning
            message.content = split.content


def _split_chunk(generation: ChatGenerationChunk, splitter: ThinkSplitter) -> ChatGenerationChunk:
    message = generation.message
    if not isinstance(message, AIMessageChunk) or not isinstance(message.content, str):
        return generation
    reasoning, content = splitter.feed(message.content)
    message.content = content
    if reasoning:
        message.additional_kwargs["reasoning_content"] = (
            message.additional_kwargs.get("reasoning_content", "") + reasoning
        )
    generation.text = content
    return generation


def _flushed(splitter: ThinkSplitter) -> ChatGenerationChunk | None:
    reasoning, content = splitter.flush()
    if not reasoning and not content:
        return None
    extra = {"reasoning_content": reasoning} if reasoning else {}
    return ChatGenerationChunk(message=AIMessageChunk(content=content, additional_kwargs=extra), text=content)


def _extras(body: Any, standard: frozenset[str]) -> dict[str, Any]:
    """Fields kluster adds to the OpenAI shape (`stop_reason`, `prompt_logprobs`, ...)."""
    if not isinstance(body, dict):
        return {}
    return {k: v for k, v in body.items() if k not in standard}


__all__ = ["ChatKluster", "KlusterBatchChat"]


def _kluster_error_from(exc: ValidationError) -> KlusterError | None:
    """The `KlusterError` a validator raised inside `exc`, or one for a field pydantic itself rejected."""
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, KlusterError):
            return cause
    for error in exc.errors():
        field = ".".join(str(p) for p in error.get("loc", ()))
        if field == "tier":
            return KlusterConfigError(f"Unknown tier: use one of {', '.join(t.value for t in Tier)} (KLUSTER_TIER).")
        if field in ("timeout", "request_timeout"):
            return KlusterConfigError("timeout must be a positive number of seconds (e.g. timeout=60).")
        if field == "n":
            return KlusterUnsupportedError("n must be 1: kluster.ai returns one choice per request.", parameter="n")
    return None
