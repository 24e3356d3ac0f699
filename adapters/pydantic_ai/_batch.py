"""`run_many`: one PydanticAI agent over many inputs, results in input order with per-input errors.

`via="batch"` gives the agent a kluster client on the core batch seam
(`integrations.jobs.batch_transport`): every model request of every run joins a `MicroBatcher`
window. The runs proceed concurrently, so their first model requests land in one window and become one Batch
API job (cheaper than real time, and fine for work that can wait); a run that calls tools
continues in the next window. `via="realtime"` runs them concurrently against the chat
endpoint, at most `max_concurrency` at a time (default: the model's tier concurrency).
`via="adaptive"` sends each model request as adaptive inference (`KlusterModelSettings.kluster_adaptive`):
kluster queues it as its own job and the run gets the real answer; the runs wait concurrently.

The agent's own model must be a kluster model (`kluster_model(...)`, or pass `model=`); tools,
output types, validators and deps work as in `agent.run`, only the transport differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic_ai.agent import AbstractAgent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.run import AgentRunResult
from pydantic_ai.settings import merge_model_settings

from kluster_agents.adapters.pydantic_ai._chat_model import KlusterChatModel, KlusterModelSettings
from kluster_agents.adapters.pydantic_ai._provider import KlusterProvider, kluster_model
from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode
from kluster_agents.integrations._jobs.batch_transport import (
    MicroBatchTransport,
    batch_error_from,
    make_async_batch_client,
)
from kluster_agents.integrations._jobs.microbatch import MicroBatcher
from kluster_agents.integrations._jobs.polling import progress_enabled

OutputT = TypeVar("OutputT")
Via = Literal["batch", "realtime", "adaptive"]
RunInput = str | Sequence[Any] | Mapping[str, Any]
DEFAULT_REALTIME_CONCURRENCY = 8


@dataclass
class RunOutcome(Generic[OutputT]):
    """One input's run: its `output` and full `result`, or the `error` that ended it."""

    index: int
    input: RunInput
    result: AgentRunResult[OutputT] | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output(self) -> OutputT | None:
        return self.result.output if self.result is not None else None

    def unwrap(self) -> OutputT:
        """The output, or raise this input's error."""
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result.output


class _BatchRouteModel(KlusterChatModel):
    """The agent's model on the batch route: its answers are priced as batch (`cost()`)."""

    answers_via_batch = True


def _kluster_chat_model(agent: AbstractAgent[Any, Any], model: OpenAIChatModel | str | None) -> OpenAIChatModel:
    chosen = model if model is not None else getattr(agent, "model", None)
    if isinstance(chosen, str):
        return kluster_model(chosen)
    if isinstance(chosen, OpenAIChatModel) and isinstance(chosen._provider, KlusterProvider):
        return chosen
    raise KlusterConfigError(
        "run_many needs a kluster model: build the agent with Agent(kluster_model(...)) or pass "
        f"model='klusterai/Meta-Llama-3.3-70B-Instruct-Turbo'; got {chosen!r}."
    )


def _run_kwargs(item: RunInput, shared: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return {**shared, **item}
    return {**shared, "user_prompt": item}


async def _run_all(
    agent: AbstractAgent[Any, Any],
    items: list[RunInput],
    shared: Mapping[str, Any],
    limit: int | None,
    on_finished: Callable[[], None] | None = None,
) -> list[RunOutcome[Any]]:
    gate = asyncio.Semaphore(limit) if limit else None

    async def one(index: int, item: RunInput) -> RunOutcome[Any]:
        try:
            if gate is None:
                return RunOutcome(index, item, result=await agent.run(**_run_kwargs(item, shared)))
            async with gate:
                return RunOutcome(index, item, result=await agent.run(**_run_kwargs(item, shared)))
        except Exception as exc:
            return RunOutcome(index, item, error=batch_error_from(exc) or exc)  # a failed line: its own error
        finally:
            if on_finished is not None:
                on_finished()

    return list(await asyncio.gather(*(one(i, item) for i, item in enumerate(items))))


async def run_many(
    agent: AbstractAgent[Any, OutputT],
    inputs: Iterable[RunInput],
    *,
    via: Via = "batch",
    model: OpenAIChatModel | str | None = None,
    max_concurrency: int | None = None,
    max_batch_size: int = 1000,
    max_wait: float = 0.5,
    completion_window: str = "24h",
    poll_interval: float | None = None,
    timeout: float | None = None,
    progress: bool | None = None,
    **run_kwargs: Any,
) -> list[RunOutcome[OutputT]]:
    """Run `agent` once per input; one `RunOutcome` per input, in input order.

    An input is a prompt, or a mapping of `agent.run` keyword arguments (`user_prompt`, `deps`,
    ...); `run_kwargs` apply to every run. Batch options (`max_batch_size`, `max_wait`,
    `completion_window`, `poll_interval`, `timeout`) are the `MicroBatcher`'s (`completion_window` is the
    adaptive requests' too; past `timeout` seconds a job's runs fail with a `KlusterTimeoutError` naming
    the job, which keeps running on kluster.ai); `progress` shows a progress display
    of each batch job (None, the default, follows KLUSTER_PROGRESS: 'auto' only on a terminal).
    """
    if via not in ("batch", "realtime", "adaptive"):
        raise KlusterConfigError(f"via must be 'batch', 'realtime' or 'adaptive', got {via!r}.")
    items = list(inputs)
    chat_model = _kluster_chat_model(agent, model)
    provider = chat_model._provider
    assert isinstance(provider, KlusterProvider), "_kluster_chat_model returns models on a KlusterProvider"
    if via == "realtime":
        limits = get_model(chat_model.model_name).limits_for(provider.settings.tier)
        limit = max_concurrency or (limits.concurrency if limits else None) or DEFAULT_REALTIME_CONCURRENCY
        with agent.override(model=chat_model):
            return await _run_all(agent, items, run_kwargs, limit)
    if via == "adaptive":
        adaptive = KlusterChatModel(
            chat_model.model_name,
            provider=provider,
            profile=chat_model.profile,
            settings=merge_model_settings(
                chat_model.settings, KlusterModelSettings(kluster_adaptive=AdaptiveMode(completion_window))
            ),
        )
        with agent.override(model=adaptive):
            return await _run_all(agent, items, run_kwargs, max_concurrency)
    async with MicroBatcher(
        provider.settings,
        max_batch_size=max_batch_size,
        max_wait=max_wait,
        completion_window=completion_window,
        poll_interval=poll_interval,
        timeout=timeout,
        progress=progress_enabled(progress, provider.settings),
    ) as batcher:
        # the core batch seam: a kluster client (compat once) whose chat completions join the batcher;
        # without a concurrency cap every run is live, so a window closes once all of them wait
        transport = MicroBatchTransport(
            batcher, asyncio.get_running_loop(), runs=len(items) if max_concurrency is None else None
        )
        batched = _BatchRouteModel(
            chat_model.model_name,
            provider=KlusterProvider(openai_client=make_async_batch_client(transport, provider.settings)),
            profile=chat_model.profile,
            settings=chat_model.settings,
        )
        with agent.override(model=batched):
            return await _run_all(agent, items, run_kwargs, max_concurrency, transport.run_finished)


def run_many_sync(
    agent: AbstractAgent[Any, OutputT], inputs: Iterable[RunInput], **kwargs: Any
) -> list[RunOutcome[OutputT]]:
    """`run_many` for scripts without an event loop (like `agent.run_sync`)."""
    return asyncio.run(run_many(agent, inputs, **kwargs))
