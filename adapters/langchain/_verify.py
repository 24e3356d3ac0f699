"""Verify-aware LangChain pieces, built on `VerifyPolicy`/`VerifyClient` (integrations):

- `with_verification(runnable, policy=...)`: a Runnable that checks each output against its
  input (and the retrieved context) and applies the policy — retry with Verify's explanation
  as feedback, raise, annotate, or mark "unverified" on an outage (never a silent pass);
- `KlusterVerifyCallbackHandler`: verifies the final text outputs of any chat model run and
  records the outcomes (agents, chains: attach it via `config={"callbacks": [...]}`);
- `KlusterVerifyTool`: a tool an agent can call to check a claim.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field

from kluster_agents.adapters.langchain._runnable import CallRunnable
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._verify.client import VerifyClient
from kluster_agents.integrations._verify.policy import METADATA_KEY, VerifyOutcome, VerifyPolicy
from kluster_agents.integrations._verify.result import VerifyResult

VERIFY_METADATA_KEY = METADATA_KEY
DEFAULT_PROMPT_KEYS = ("question", "input", "query", "prompt")
ContextSource = str | Callable[[Any], Any] | None


def text_of(value: Any) -> str:
    """Plain text of a message, string, document list or anything else."""
    if isinstance(value, BaseMessage):
        return value.text
    if isinstance(value, str):
        return value
    if isinstance(value, Document):
        return value.page_content
    if isinstance(value, Sequence) and value and all(isinstance(v, Document) for v in value):
        return "\n\n".join(d.page_content for d in value)
    return json.dumps(value, default=str) if not isinstance(value, bytes) else value.decode(errors="replace")


def _last_human_text(messages: Sequence[BaseMessage]) -> str:
    human = [m for m in messages if isinstance(m, HumanMessage)]
    return (human[-1] if human else messages[-1]).text if messages else ""


def _annotated(output: Any, outcome: VerifyOutcome) -> Any:
    """Attach the outcome to an AIMessage output (`response_metadata["kluster_verify"]`)."""
    if isinstance(output, AIMessage):
        output = output.model_copy(deep=False)
        output.response_metadata = {**output.response_metadata, VERIFY_METADATA_KEY: outcome.to_metadata()}
    return output


class _Verified:
    """Runs the wrapped runnable, checks its output, retries with feedback as the policy says."""

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        policy: VerifyPolicy,
        *,
        context: ContextSource,
        prompt_key: str | None,
        output_key: str | None,
    ) -> None:
        self.runnable = runnable
        self.policy = policy
        self.context = context
        self.prompt_key = prompt_key
        self.output_key = output_key

    def prompt_and_context(self, input_: Any) -> tuple[str, str | None]:
        if isinstance(input_, Mapping):
            key = self.prompt_key or next((k for k in DEFAULT_PROMPT_KEYS if k in input_), None)
            if key is None or key not in input_:
                raise KlusterInvalidRequestError(
                    f"with_verification: cannot find the prompt in input keys {sorted(input_)}; "
                    "pass prompt_key='<your question key>'.",
                    parameter="prompt_key",
                )
            return text_of(input_[key]), self.context_of(input_)
        if isinstance(self.context, str):
            raise KlusterInvalidRequestError(
                "with_verification: context='<input key>' needs dict inputs ({'question': ..., 'context': ...}).",
                parameter="context",
            )
        if callable(self.context):
            return self.prompt_only(input_), self.context_of(input_)
        return self.prompt_only(input_), None

    def context_of(self, input_: Any) -> str | None:
        if callable(self.context):
            found = self.context(input_)
        elif isinstance(self.context, str) and isinstance(input_, Mapping):
            found = input_.get(self.context)
        else:
            found = None
        return text_of(found) if found is not None else None

    def prompt_only(self, input_: Any) -> str:
        if isinstance(input_, PromptValue):
            return _last_human_text(input_.to_messages())
        if isinstance(input_, Sequence) and not isinstance(input_, str):
            from langchain_core.messages import convert_to_messages

            return _last_human_text(convert_to_messages(input_))
        return text_of(input_)

    def output_text(self, output: Any) -> str:
        if self.output_key is not None and isinstance(output, Mapping):
            return text_of(output[self.output_key])
        return text_of(output)

    def with_feedback(self, input_: Any, output: Any, feedback: str) -> Any:
        """The next attempt's input: the conversation plus the answer and Verify's feedback."""
        if isinstance(input_, Mapping):
            key = self.prompt_key or next(k for k in DEFAULT_PROMPT_KEYS if k in input_)
            return {**input_, key: f"{text_of(input_[key])}\n\n{feedback}"}
        if isinstance(input_, PromptValue):
            input_ = input_.to_messages()
        if isinstance(input_, str):
            input_ = [HumanMessage(content=input_)]
        answer = output if isinstance(output, AIMessage) else AIMessage(content=self.output_text(output))
        return [*input_, answer, HumanMessage(content=feedback)]

    def invoke(self, input_: Any, config: RunnableConfig) -> Any:
        prompt, context = self.prompt_and_context(input_)
        current = input_
        for attempt in range(self.policy.max_retries + 1):
            output = self.runnable.invoke(current, config)
            outcome = self.policy.check(prompt, self.output_text(output), context, attempt=attempt)
            if outcome.action != "retry":
                return _annotated(output, outcome)
            current = self.with_feedback(current, output, outcome.feedback or "")
        raise AssertionError("unreachable: the policy stops retrying after max_retries")  # pragma: no cover

    async def ainvoke(self, input_: Any, config: RunnableConfig) -> Any:
        prompt, context = self.prompt_and_context(input_)
        current = input_
        for attempt in range(self.policy.max_retries + 1):
            output = await self.runnable.ainvoke(current, config)
            outcome = await self.policy.acheck(prompt, self.output_text(output), context, attempt=attempt)
            if outcome.action != "retry":
                return _annotated(output, outcome)
            current = self.with_feedback(current, output, outcome.feedback or "")
        raise AssertionError("unreachable: the policy stops retrying after max_retries")  # pragma: no cover

    # Batches: one batch of the wrapped runnable per round (one Batch API job under `batch=True`),
    # the flagged answers of a round retried together in the next.

    def _settle(
        self, attempt: int, pending: list[int], outputs: list[Any], checks: list[Any], state: _BatchState
    ) -> list[int]:
        """Record each pending input's outcome; the inputs to run again with feedback."""
        retry: list[int] = []
        for index, output, outcome in zip(pending, outputs, checks, strict=True):
            if isinstance(outcome, Exception):
                state.results[index] = outcome
            elif outcome.action == "retry" and attempt < self.policy.max_retries:
                state.current[index] = self.with_feedback(state.current[index], output, outcome.feedback or "")
                retry.append(index)
            else:
                state.results[index] = _annotated(output, outcome)
        return retry

    def _check_one(self, attempt: int, prompt: tuple[str, str | None], output: Any) -> Any:
        if isinstance(output, Exception):
            return output
        try:
            return self.policy.check(prompt[0], self.output_text(output), prompt[1], attempt=attempt)
        except Exception as exc:
            return exc

    async def _acheck_one(self, attempt: int, prompt: tuple[str, str | None], output: Any) -> Any:
        if isinstance(output, Exception):
            return output
        try:
            return await self.policy.acheck(prompt[0], self.output_text(output), prompt[1], attempt=attempt)
        except Exception as exc:
            return exc

    def batch(self, inputs: list[Any], configs: list[RunnableConfig]) -> list[Any]:
        prompts = [self.prompt_and_context(i) for i in inputs]
        state = _BatchState(list(inputs))
        pending = list(range(len(inputs)))
        for attempt in range(self.policy.max_retries + 1):
            if not pending:
                break
            outputs = self.runnable.batch(
                [state.current[i] for i in pending], [configs[i] for i in pending], return_exceptions=True
            )
            checks = [self._check_one(attempt, prompts[i], o) for i, o in zip(pending, outputs, strict=True)]
            pending = self._settle(attempt, pending, outputs, checks, state)
        return state.results

    async def abatch(self, inputs: list[Any], configs: list[RunnableConfig]) -> list[Any]:
        prompts = [self.prompt_and_context(i) for i in inputs]
        state = _BatchState(list(inputs))
        pending = list(range(len(inputs)))
        for attempt in range(self.policy.max_retries + 1):
            if not pending:
                break
            outputs = await self.runnable.abatch(
                [state.current[i] for i in pending], [configs[i] for i in pending], return_exceptions=True
            )
            checks = await asyncio.gather(
                *(self._acheck_one(attempt, prompts[i], o) for i, o in zip(pending, outputs, strict=True))
            )
            pending = self._settle(attempt, pending, outputs, list(checks), state)
        return state.results

    # Streams: chunks go out as they come, so a flagged answer cannot be taken back and retried;
    # it is decided as if the retries were spent (the policy's `on_exhausted`: raise or annotate).

    def stream(self, input_: Any, config: RunnableConfig) -> Iterator[Any]:
        prompt, context = self.prompt_and_context(input_)
        whole = _Joined()
        for chunk in self.runnable.stream(input_, config):
            whole.add(chunk)
            yield chunk
        outcome = self.policy.check(prompt, self.output_text(whole.value), context, attempt=self.policy.max_retries)
        if (last := _verdict_chunk(whole.value, outcome)) is not None:
            yield last

    async def astream(self, input_: Any, config: RunnableConfig) -> AsyncIterator[Any]:
        prompt, context = self.prompt_and_context(input_)
        whole = _Joined()
        async for chunk in self.runnable.astream(input_, config):
            whole.add(chunk)
            yield chunk
        text = self.output_text(whole.value)
        outcome = await self.policy.acheck(prompt, text, context, attempt=self.policy.max_retries)
        if (last := _verdict_chunk(whole.value, outcome)) is not None:
            yield last


class _BatchState:
    """Each input's current conversation (with feedback) and its result so far."""

    def __init__(self, inputs: list[Any]) -> None:
        self.current = inputs
        self.results: list[Any] = [None] * len(inputs)


class _Joined:
    """The whole output of a stream, its chunks added as LangChain adds them."""

    def __init__(self) -> None:
        self.value: Any = None
        self._empty = True

    def add(self, chunk: Any) -> None:
        if self._empty:
            self.value, self._empty = chunk, False
            return
        try:
            self.value = self.value + chunk
        except TypeError:  # chunks that do not add up: the last one stands for the output
            self.value = chunk


def _verdict_chunk(whole: Any, outcome: VerifyOutcome) -> AIMessageChunk | None:
    """An empty closing message chunk that carries the verdict (message streams only)."""
    if not isinstance(whole, AIMessageChunk):
        return None
    return AIMessageChunk(content="", response_metadata={VERIFY_METADATA_KEY: outcome.to_metadata()}, id=whole.id)


def with_verification(
    runnable: Runnable[Any, Any],
    policy: VerifyPolicy | None = None,
    *,
    context: ContextSource = None,
    prompt_key: str | None = None,
    output_key: str | None = None,
) -> Runnable[Any, Any]:
    """Wrap `runnable` so each output is checked by kluster.ai Verify under `policy`.

    Inputs: a string or messages (the prompt is the last human message), or a dict whose
    `prompt_key` (default: question/input/query/prompt) is the prompt. `context` says where the
    grounding context comes from: None (Verify checks against the web), the key of a dict
    input holding the retrieved context (a string or a list of `Document`s), or a
    callable(input) -> str | None.
    On "retry" the wrapped runnable runs again with Verify's explanation as feedback (for dict
    inputs, appended to the prompt). AIMessage outputs carry the outcome in
    `response_metadata["kluster_verify"]`. Default policy: `VerifyPolicy()` (retry, fail closed).
    `.stream()/.astream()` pass the chunks through as they come and verify the whole answer at the
    end: a last, empty message chunk carries the outcome (or the policy's error is raised there);
    a streamed answer cannot be retried, so a flagged one gets the policy's `on_exhausted`.
    """
    call = _Verified(runnable, policy or VerifyPolicy(), context=context, prompt_key=prompt_key, output_key=output_key)
    return CallRunnable(call, "KlusterVerified")


@dataclass(frozen=True)
class VerifyRecord:
    """One final output checked by `KlusterVerifyCallbackHandler`."""

    run_id: UUID
    prompt: str
    output: str
    outcome: VerifyOutcome

    @property
    def status(self) -> str:
        return self.outcome.status


class KlusterVerifyCallbackHandler(BaseCallbackHandler):
    """Verifies the final text answer of every chat-model run it sees and records the outcome.

    Outputs that are tool calls (intermediate agent steps) are not checked. Default policy:
    `VerifyPolicy(on_hallucination="annotate")` — record, do not interrupt; outages still fail
    closed (the error propagates: `raise_error` is True) unless the policy says
    `on_error="mark_unverified"`. Use `on_hallucination="raise"` to stop a run on a flag.
    `context` (a string or a callable returning one) grounds the check, e.g. in RAG.
    """

    raise_error = True

    def __init__(
        self, policy: VerifyPolicy | None = None, *, context: str | Callable[[], str | None] | None = None
    ) -> None:
        super().__init__()
        self.policy = policy or VerifyPolicy(on_hallucination="annotate")
        self.context = context
        self.records: list[VerifyRecord] = []
        self._prompts: dict[UUID, str] = {}
        self._lock = threading.Lock()

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        with self._lock:
            self._prompts[run_id] = _last_human_text(messages[0]) if messages else ""

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            prompt = self._prompts.pop(run_id, None)
        generation = response.generations[0][0] if response.generations and response.generations[0] else None
        if prompt is None or not isinstance(generation, ChatGeneration):
            return
        message = generation.message
        if (isinstance(message, AIMessage) and message.tool_calls) or not message.text.strip():
            return
        context = self.context() if callable(self.context) else self.context
        outcome = self.policy.check(prompt, message.text, context)
        with self._lock:
            self.records.append(VerifyRecord(run_id, prompt, message.text, outcome))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._prompts.pop(run_id, None)

    @property
    def flagged(self) -> list[VerifyRecord]:
        return [r for r in self.records if r.status == "hallucination"]


class _VerifyArgs(BaseModel):
    prompt: str = Field(description="The question or task the answer responds to.")
    output: str = Field(description="The answer or claim to check.")
    context: str | None = Field(default=None, description="Source text the answer must be grounded in, if any.")


class KlusterVerifyTool(BaseTool):
    """A tool for agents: checks an answer with kluster.ai Verify.

    The tool message says "reliable" or "hallucination" with Verify's explanation; the full
    `VerifyResult` is the tool message's `artifact`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "kluster_verify"
    description: str = (
        "Check whether an answer is factually reliable (kluster.ai Verify). Give the question as `prompt`, "
        "the answer as `output`, and optionally the source text as `context`. Returns 'reliable' or "
        "'hallucination' with an explanation."
    )
    args_schema: type[BaseModel] = _VerifyArgs
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    settings: KlusterSettings | None = Field(default=None, exclude=True)
    client: VerifyClient | None = Field(default=None, exclude=True)

    def _client(self) -> VerifyClient:
        if self.client is None:
            self.client = VerifyClient(self.settings)
        return self.client

    @staticmethod
    def _answer(result: VerifyResult) -> tuple[str, VerifyResult]:
        return f"{result.status}: {result.explanation}".strip(), result

    def _run(self, prompt: str, output: str, context: str | None = None, **_: Any) -> tuple[str, VerifyResult]:
        return self._answer(self._client().verify(prompt, output, context))

    async def _arun(self, prompt: str, output: str, context: str | None = None, **_: Any) -> tuple[str, VerifyResult]:
        return self._answer(await self._client().averify(prompt, output, context))


__all__ = [
    "KlusterVerifyCallbackHandler",
    "KlusterVerifyTool",
    "VerifyRecord",
    "with_verification",
]
