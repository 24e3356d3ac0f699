"""`.batch()/.abatch()` of a `ChatKluster` as one Batch API job.

Each input becomes exactly the request the real-time path would send (`_get_request_payload`,
so compat applies), the job runs through the batch engine (`run_batch`/`arun_batch`), and
each result is handed back through the model's normal `invoke` with the completion
pre-filled: `_generate` then builds the message with the same `_create_chat_result` as a
real-time call, and LangChain's own machinery (callbacks, message ids, response metadata,
output version) runs unchanged. So a batch returns the same `AIMessage`s, in input order.
Failed lines raise their `KlusterBatchError` inside that `invoke` (callbacks see the error);
with `return_exceptions=True` they are returned in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_config_list

from kluster_agents.integrations.jobs.batch import arun_batch, run_batch
from kluster_agents.integrations.jobs.batch_results import BatchResult

if TYPE_CHECKING:
    from langchain_core.language_models import LanguageModelInput
    from langchain_core.messages import AIMessage

    from kluster_agents.adapters.langchain.chat_models import ChatKluster

# Keyword arguments LangChain consumes for tracing; they never reach the request body.
_TRACING_ONLY = frozenset({"ls_structured_output_format"})

_completed: ContextVar[BatchResult | None] = ContextVar("kluster_batch_result", default=None)


def completed_in_batch() -> BatchResult | None:
    """The batch result the current `invoke` must turn into a message (None: call the API)."""
    return _completed.get()


@contextmanager
def _serving(result: BatchResult) -> Iterator[None]:
    token = _completed.set(result)
    try:
        yield
    finally:
        _completed.reset(token)


def _requests(
    model: ChatKluster, inputs: list[LanguageModelInput], return_exceptions: bool, kwargs: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[int, Exception]]:
    """The chat body of every input; inputs compat refuses are errors (raised unless returned)."""
    bodies: list[dict[str, Any]] = []
    refused: dict[int, Exception] = {}
    request_kwargs = {k: v for k, v in kwargs.items() if k not in _TRACING_ONLY}
    for index, input_ in enumerate(inputs):
        try:
            payload = model._get_request_payload(input_, **request_kwargs)
        except Exception as exc:
            if not return_exceptions:
                raise
            refused[index] = exc
            continue
        payload.pop("stream", None)
        bodies.append({**payload, "custom_id": f"lc-{index}"})
    return bodies, refused


def _engine_options(model: ChatKluster) -> dict[str, Any]:
    return {
        "settings": model.settings,
        "client": model.root_client,
        "completion_window": model.batch_completion_window,
        "progress": model.batch_progress,
        "poll_interval": model.batch_poll_interval,
    }


def _placed(results: list[BatchResult], refused: dict[int, Exception], total: int) -> list[BatchResult | Exception]:
    """Results and refusals back in input order."""
    submitted = iter(results)
    return [refused[i] if i in refused else next(submitted) for i in range(total)]


def _invoke_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**kwargs, "stream": False}  # the result is already complete: never take the streaming path


def batch(
    model: ChatKluster,
    inputs: list[LanguageModelInput],
    config: RunnableConfig | list[RunnableConfig] | None,
    *,
    return_exceptions: bool,
    **kwargs: Any,
) -> list[AIMessage | Exception]:
    configs = get_config_list(config, len(inputs))
    bodies, refused = _requests(model, inputs, return_exceptions, kwargs)
    results = run_batch(bodies, **_engine_options(model)) if bodies else []
    placed = _placed(results, refused, len(inputs))
    outputs: list[AIMessage | Exception] = []
    for input_, cfg, item in zip(inputs, configs, placed, strict=True):
        if isinstance(item, Exception):
            outputs.append(item)
            continue
        try:
            with _serving(item):
                outputs.append(model.invoke(input_, cfg, **_invoke_kwargs(kwargs)))
        except Exception as exc:
            if not return_exceptions:
                raise
            outputs.append(exc)
    return outputs


async def abatch(
    model: ChatKluster,
    inputs: list[LanguageModelInput],
    config: RunnableConfig | list[RunnableConfig] | None,
    *,
    return_exceptions: bool,
    **kwargs: Any,
) -> list[AIMessage | Exception]:
    configs = get_config_list(config, len(inputs))
    bodies, refused = _requests(model, inputs, return_exceptions, kwargs)
    results = await arun_batch(bodies, **_engine_options(model)) if bodies else []

    async def deliver(input_: LanguageModelInput, cfg: RunnableConfig, item: BatchResult | Exception) -> Any:
        if isinstance(item, Exception):
            return item
        try:
            with _serving(item):
                return await model.ainvoke(input_, cfg, **_invoke_kwargs(kwargs))
        except Exception as exc:
            if not return_exceptions:
                raise
            return exc

    placed = _placed(results, refused, len(inputs))
    return list(await asyncio.gather(*(deliver(i, c, r) for i, c, r in zip(inputs, configs, placed, strict=True))))
