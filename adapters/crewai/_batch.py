"""`kickoff_for_each_batched`: `Crew.kickoff_for_each` whose LLM calls go through the Batch API;
`call_for_each_batched`: many `llm.call`s of one LLM as Batch API lines.

Each input gets its own copy of the crew (as in `kickoff_for_each`); the copies run
concurrently in worker threads, and every LLM call they make joins a `MicroBatcher` window, so
N runs' first steps become one batch job, their second steps the next, and so on. Use it when
the answers can wait (Batch API completion windows are hours, its price is lower); results
are the same `CrewOutput`s, in input order, as `kickoff_for_each` would return.

Every agent (and the hierarchical manager) must use `kluster_llm`. Streaming is not possible
through a batch; batched copies run with `stream=False`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Protocol, runtime_checkable

from crewai import Crew
from crewai.crews.crew_output import CrewOutput
from crewai.types.streaming import CrewStreamingOutput
from crewai.types.usage_metrics import UsageMetrics

from kluster_agents.adapters.crewai._chat_model import KlusterCompletion
from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._jobs.batch_transport import (
    MicroBatchTransport,
    batch_error_from,
    batch_http_clients,
)
from kluster_agents.integrations._jobs.microbatch import MicroBatcher, MicroBatchStats
from kluster_agents.integrations._jobs.polling import progress_enabled

DEFAULT_MAX_CONCURRENCY = 64
# A window closes as soon as every unfinished run is waiting (see jobs/batch_transport); max_wait only
# bounds how long runs busy elsewhere (tools, guardrails) can hold it open.
DEFAULT_MAX_WAIT = 5.0


def _batched_llm(llm: Any, transport: MicroBatchTransport, owner: str) -> KlusterCompletion:
    if not isinstance(llm, KlusterCompletion):
        raise KlusterConfigError(
            f"{owner} uses {type(llm).__name__} ({getattr(llm, 'model', llm)!r}); kickoff_for_each_batched can only "
            "batch kluster.ai LLMs — give it llm=kluster_llm(...)."
        )
    batched = llm.model_copy(update={"stream": False, "max_retries": 0})
    batched._token_usage = dict.fromkeys(llm._token_usage, 0)  # per run, not shared with the original
    batched.use_http_clients(*batch_http_clients(transport))
    return batched


@runtime_checkable
class _WithFunctionCallingLLM(Protocol):
    """`crewai.Agent` and CrewAI's agent adapters; `BaseAgent` itself declares no `function_calling_llm`."""

    function_calling_llm: Any


def _batched_copy(crew: Crew, transport: MicroBatchTransport) -> Crew:
    """A copy of `crew` whose every LLM answers from the micro-batcher."""
    copy = crew.copy()
    for agent in [*copy.agents, *([copy.manager_agent] if copy.manager_agent else [])]:
        agent.llm = _batched_llm(agent.llm, transport, f"Agent {agent.role!r}")
        if isinstance(agent, _WithFunctionCallingLLM) and agent.function_calling_llm is not None:
            agent.function_calling_llm = _batched_llm(
                agent.function_calling_llm, transport, f"Agent {agent.role!r} (function_calling_llm)"
            )
    if copy.manager_llm is not None:
        copy.manager_llm = _batched_llm(copy.manager_llm, transport, "The crew's manager_llm")
    return copy


def _settings_of(crew: Crew) -> KlusterSettings | None:
    llms = [a.llm for a in crew.agents] + [crew.manager_llm]
    return next((llm.settings for llm in llms if isinstance(llm, KlusterCompletion)), None)


async def akickoff_for_each_batched(
    crew: Crew,
    inputs: Iterable[dict[str, Any]],
    *,
    settings: KlusterSettings | None = None,
    max_wait: float = DEFAULT_MAX_WAIT,
    max_batch_size: int = 1000,
    completion_window: str = "24h",
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    poll_interval: float | None = None,
    timeout: float | None = None,
    stats: MicroBatchStats | None = None,
    progress: bool | None = None,
    return_exceptions: bool = False,
) -> list[CrewOutput | CrewStreamingOutput | Exception]:
    """Async `kickoff_for_each_batched` (the crews still run in worker threads)."""
    inputs = list(inputs)
    if not inputs:
        return []
    settings = settings or _settings_of(crew)
    batcher = MicroBatcher(
        settings,
        max_batch_size=max_batch_size,
        max_wait=max_wait,
        completion_window=completion_window,
        poll_interval=poll_interval,
        timeout=timeout,
        progress=progress_enabled(progress, settings),
    )
    if stats is not None:
        batcher.stats = stats
    loop = asyncio.get_running_loop()
    transport = MicroBatchTransport(batcher, loop, runs=len(inputs))
    copies = [_batched_copy(crew, transport) for _ in inputs]
    async with batcher:
        with ThreadPoolExecutor(
            max_workers=max(1, min(len(inputs), max_concurrency)), thread_name_prefix="kluster-crew"
        ) as pool:
            runs = [
                loop.run_in_executor(pool, partial(c.kickoff, inputs=i)) for c, i in zip(copies, inputs, strict=False)
            ]
            for run in runs:
                run.add_done_callback(lambda _: transport.run_finished())
            outcomes = await asyncio.gather(*runs, return_exceptions=True)
    total = UsageMetrics()
    for copy in copies:
        if copy.usage_metrics:
            total.add_usage_metrics(copy.usage_metrics)
    crew.usage_metrics = total
    return _outcomes(outcomes, return_exceptions, "runs")


def _outcomes(outcomes: list[Any], return_exceptions: bool, what: str) -> list[Any]:
    """Every input's result, a failed one as its exception in place (`return_exceptions=True`, as in
    LangChain's `.batch()`), or the first failure raised, saying how many others succeeded."""
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome  # cancellation and interrupts are never an input's outcome
        if isinstance(outcome, Exception):
            outcomes[i] = batch_error_from(outcome) or outcome  # a failed line: its own KlusterError
    if return_exceptions:
        return outcomes
    failed = [o for o in outcomes if isinstance(o, Exception)]
    if failed:
        failed[0].add_note(
            f"{len(outcomes) - len(failed)} of {len(outcomes)} {what} succeeded; pass return_exceptions=True to "
            "get every result, each failed input's exception in its place."
        )
        raise failed[0]
    return outcomes


def kickoff_for_each_batched(
    crew: Crew, inputs: Iterable[dict[str, Any]], **options: Any
) -> list[CrewOutput | CrewStreamingOutput | Exception]:
    """Run `crew` once per input with its LLM calls coalesced into Batch API jobs.

    Returns the `CrewOutput`s in input order, like `crew.kickoff_for_each(inputs)`. Options:
    `settings`, `max_wait` (longest a window stays open, default 5 s), `max_batch_size`,
    `completion_window` ("24h"...), `max_concurrency` (crews running at once), `poll_interval`,
    `timeout` (seconds to wait for each batch job; then its runs fail with `KlusterTimeoutError` naming
    the job, which keeps running on kluster.ai), `stats` (a `MicroBatchStats` to fill), `progress` (a
    progress display of each batch job: None — the default — follows KLUSTER_PROGRESS, 'auto' showing it
    only on a terminal), `return_exceptions` (True: a failed run is its exception in its place, the
    others' outputs are kept; False: the first failure is raised). Inside an event loop, await
    `akickoff_for_each_batched` instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(akickoff_for_each_batched(crew, inputs, **options))
    raise KlusterConfigError(
        "kickoff_for_each_batched was called inside a running event loop; "
        "use `await akickoff_for_each_batched(crew, inputs)` there."
    )


async def acall_for_each_batched(
    llm: KlusterCompletion,
    messages: Iterable[str | list[dict[str, Any]]],
    *,
    max_wait: float = DEFAULT_MAX_WAIT,
    max_batch_size: int = 1000,
    completion_window: str = "24h",
    poll_interval: float | None = None,
    timeout: float | None = None,
    stats: MicroBatchStats | None = None,
    progress: bool | None = None,
    return_exceptions: bool = False,
    **call_kwargs: Any,
) -> list[Any]:
    """Async `call_for_each_batched`."""
    messages = list(messages)
    if not messages:
        return []
    batcher = MicroBatcher(
        llm.settings,
        max_batch_size=max_batch_size,
        max_wait=max_wait,
        completion_window=completion_window,
        poll_interval=poll_interval,
        timeout=timeout,
        progress=progress_enabled(progress, llm.settings),
    )
    if stats is not None:
        batcher.stats = stats
    transport = MicroBatchTransport(batcher, asyncio.get_running_loop(), runs=len(messages))
    copies = [_batched_llm(llm, transport, "call_for_each_batched") for _ in messages]

    async def one(copy: KlusterCompletion, message: str | list[dict[str, Any]]) -> Any:
        try:
            return await copy.acall(message, **call_kwargs)
        finally:
            transport.run_finished()

    async with batcher:
        outcomes = await asyncio.gather(
            *(one(c, m) for c, m in zip(copies, messages, strict=True)), return_exceptions=True
        )
    return _outcomes(list(outcomes), return_exceptions, "calls")


def call_for_each_batched(
    llm: KlusterCompletion, messages: Iterable[str | list[dict[str, Any]]], **options: Any
) -> list[Any]:
    """`[llm.call(m, **call_kwargs) for m in messages]`, answered through Batch API jobs.

    Each message (a prompt or a list of chat messages, images included) becomes one batch line;
    the answers come back in input order, as `call` returns them (text, the tool calls when
    `tools=` is given without `available_functions`, a validated model with `response_model=`).
    Batch options as in `kickoff_for_each_batched` (`max_wait`, `max_batch_size`,
    `completion_window`, `poll_interval`, `timeout`, `stats`, `progress`, `return_exceptions`); anything
    else goes to `call`.
    Inside an event loop, await `acall_for_each_batched` instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(acall_for_each_batched(llm, messages, **options))
    raise KlusterConfigError(
        "call_for_each_batched was called inside a running event loop; "
        "use `await acall_for_each_batched(llm, messages)` there."
    )
