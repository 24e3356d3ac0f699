"""Prompted-JSON structured output as a LangChain Runnable (models without tool calling, and
`json_mode`, since kluster refuses `response_format`).

The schema goes into the system prompt (`integrations.structured.schema_instructions`), the
reply is parsed and validated, and an unusable reply is sent back with feedback up to
`max_retries` times. The result mirrors LangChain's `with_structured_output`: the parsed
object, or `{"raw", "parsed", "parsing_error"}` with `include_raw=True`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel

from kluster_agents.adapters.langchain._runnable import CallRunnable
from kluster_agents.integrations._api.structured import (
    KlusterStructuredOutputError,
    OutputSchema,
    parse_structured,
    retry_feedback,
    schema_instructions,
)


def _with_instructions(messages: list[BaseMessage], instructions: str) -> list[BaseMessage]:
    """Put the instructions into the leading system message (one system message suits every model)."""
    if messages and isinstance(messages[0], SystemMessage) and isinstance(messages[0].content, str):
        return [SystemMessage(content=f"{messages[0].content}\n\n{instructions}"), *messages[1:]]
    return [SystemMessage(content=instructions), *messages]


class _PromptedJSON:
    """One structured-output call: ask, parse, retry with feedback."""

    def __init__(
        self,
        llm: Runnable[LanguageModelInput, AIMessage],
        schema: OutputSchema,
        *,
        include_raw: bool,
        max_retries: int,
    ) -> None:
        self.llm = llm
        self.schema = schema
        self.include_raw = include_raw
        self.max_retries = max_retries

    def _first_messages(self, input_: LanguageModelInput) -> list[BaseMessage]:
        if isinstance(input_, PromptValue):
            messages = input_.to_messages()
        elif isinstance(input_, str):
            messages = [HumanMessage(content=input_)]
        else:
            messages = convert_to_messages(input_)
        return _with_instructions(messages, schema_instructions(self.schema))

    def _step(self, messages: list[BaseMessage], raw: AIMessage) -> tuple[Any, KlusterStructuredOutputError | None]:
        try:
            return parse_structured(raw.text, self.schema), None
        except KlusterStructuredOutputError as exc:
            messages.extend([raw, HumanMessage(content=retry_feedback(exc, self.schema))])
            return None, exc

    def _result(self, raw: AIMessage, parsed: Any, error: KlusterStructuredOutputError | None) -> Any:
        if self.include_raw:
            return {"raw": raw, "parsed": parsed, "parsing_error": error}
        if error is not None:
            raise error
        return parsed

    def invoke(self, input_: LanguageModelInput, config: RunnableConfig) -> Any:
        messages = self._first_messages(input_)
        for _ in range(self.max_retries + 1):
            raw = self.llm.invoke(messages, config)
            parsed, error = self._step(messages, raw)
            if error is None:
                break
        return self._result(raw, parsed, error)

    async def ainvoke(self, input_: LanguageModelInput, config: RunnableConfig) -> Any:
        messages = self._first_messages(input_)
        for _ in range(self.max_retries + 1):
            raw = await self.llm.ainvoke(messages, config)
            parsed, error = self._step(messages, raw)
            if error is None:
                break
        return self._result(raw, parsed, error)

    # Batches: one batch of the model per round (one Batch API job under `batch=True`), the
    # unusable replies of a round retried together in the next.

    def _settle(self, pending: list[int], raws: list[Any], state: _BatchState) -> list[int]:
        retry: list[int] = []
        for index, raw in zip(pending, raws, strict=True):
            if isinstance(raw, Exception):
                state.results[index] = raw
                continue
            parsed, error = self._step(state.conversations[index], raw)
            try:
                state.results[index] = self._result(raw, parsed, error)
            except KlusterStructuredOutputError as exc:
                state.results[index] = exc
            if error is not None:
                retry.append(index)
        return retry

    def batch(self, inputs: list[LanguageModelInput], configs: list[RunnableConfig]) -> list[Any]:
        state = _BatchState([self._first_messages(i) for i in inputs])
        pending = list(range(len(inputs)))
        for _ in range(self.max_retries + 1):
            if not pending:
                break
            raws = self.llm.batch(
                [state.conversations[i] for i in pending], [configs[i] for i in pending], return_exceptions=True
            )
            pending = self._settle(pending, raws, state)
        return state.results

    async def abatch(self, inputs: list[LanguageModelInput], configs: list[RunnableConfig]) -> list[Any]:
        state = _BatchState([self._first_messages(i) for i in inputs])
        pending = list(range(len(inputs)))
        for _ in range(self.max_retries + 1):
            if not pending:
                break
            raws = await self.llm.abatch(
                [state.conversations[i] for i in pending], [configs[i] for i in pending], return_exceptions=True
            )
            pending = self._settle(pending, raws, state)
        return state.results


class _BatchState:
    """Each input's conversation (with retry feedback) and its result so far."""

    def __init__(self, conversations: list[list[BaseMessage]]) -> None:
        self.conversations = conversations
        self.results: list[Any] = [None] * len(conversations)


class _AsMessage:
    """Prompted JSON whose result is the reply message with the validated JSON as its content."""

    def __init__(self, call: _PromptedJSON) -> None:
        self.call = call

    @staticmethod
    def message(result: Any) -> Any:
        if isinstance(result, Exception):
            return result
        if result["parsing_error"] is not None:
            raise result["parsing_error"]
        parsed = result["parsed"]
        text = parsed.model_dump_json() if isinstance(parsed, BaseModel) else json.dumps(parsed)
        return result["raw"].model_copy(update={"content": text})

    def invoke(self, input_: LanguageModelInput, config: RunnableConfig) -> Any:
        return self.message(self.call.invoke(input_, config))

    async def ainvoke(self, input_: LanguageModelInput, config: RunnableConfig) -> Any:
        return self.message(await self.call.ainvoke(input_, config))

    def batch(self, inputs: list[LanguageModelInput], configs: list[RunnableConfig]) -> list[Any]:
        return [self._caught(r) for r in self.call.batch(inputs, configs)]

    async def abatch(self, inputs: list[LanguageModelInput], configs: list[RunnableConfig]) -> list[Any]:
        return [self._caught(r) for r in await self.call.abatch(inputs, configs)]

    def _caught(self, result: Any) -> Any:
        try:
            return self.message(result)
        except KlusterStructuredOutputError as exc:
            return exc


def _schema_of_response_format(response_format: Mapping[str, Any] | type) -> OutputSchema:
    """The schema inside an OpenAI `response_format` (json_schema or json_object), or a schema class."""
    if not isinstance(response_format, Mapping):
        return response_format
    if response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema")
    return None  # json_object: any JSON object


def prompted_json_message(
    llm: Runnable[LanguageModelInput, AIMessage], response_format: Mapping[str, Any] | type, *, max_retries: int = 2
) -> Runnable[LanguageModelInput, AIMessage]:
    """A Runnable whose AIMessage content is JSON valid for `response_format`, from a model that only
    produces text: what `response_format` would give, for callers that parse the message themselves
    (LangChain agents' `ProviderStrategy`). Unusable after the retries: `KlusterStructuredOutputError`."""
    call = _PromptedJSON(llm, _schema_of_response_format(response_format), include_raw=True, max_retries=max_retries)
    return CallRunnable(_AsMessage(call), "KlusterPromptedJSON")


def prompted_structured_output(
    llm: Runnable[LanguageModelInput, AIMessage],
    schema: OutputSchema,
    *,
    include_raw: bool = False,
    max_retries: int = 2,
) -> Runnable[LanguageModelInput, Any]:
    """A Runnable returning `schema`-shaped output from a chat model that only produces text."""
    call = _PromptedJSON(llm, schema, include_raw=include_raw, max_retries=max_retries)
    return CallRunnable(call, "KlusterPromptedJSON")
