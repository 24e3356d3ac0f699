"""`.batch()/.abatch()` of a `ChatKluster` through the Batch API, on the core batch seam.

Every input is first checked with `compat.check_chat_request` (a pure check: a refused input
fails before anything is submitted, or takes its place under `return_exceptions=True`). Then a
copy of the model whose clients are kluster openai clients on a `MicroBatchTransport`
(`integrations._jobs.batch_transport`) runs LangChain's ordinary `ainvoke` for every input at
once: compat runs once, in the client; the calls join one `MicroBatcher` window, which becomes
one Batch API job (split by the engine only where the tier's limits require). So a batch
returns the same `AIMessage`s, in input order, with LangChain's own callbacks, message ids and
metadata. A failed line raises (or returns) its `KlusterBatchError`, custom_id `lc-<index>`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_config_list

from kluster_agents.integrations._api.compat import check_chat_request
from kluster_agents.integrations._jobs.batch_transport import (
    BATCH_CUSTOM_ID_HEADER,
    BATCH_POSITION_HEADER,
    MicroBatchTransport,
    batch_error_from,
    make_async_batch_client,
    make_batch_client,
)
from kluster_agents.integrations._jobs.microbatch import MicroBatcher
from kluster_agents.integrations._jobs.polling import progress_enabled

if TYPE_CHECKING:
    from langchain_core.language_models import LanguageModelInput
    from langchain_core.messages import BaseMessage

    from kluster_agents.integrations._api.settings import KlusterSettings


class BatchableChatModel(Protocol):
    """What a Batch API run needs of a chat model: `ChatKluster` (which imports this module) is one."""

    @property
    def settings(self) -> KlusterSettings: ...
    @property
    def root_client(self) -> Any: ...
    @property
    def batch_completion_window(self) -> str: ...
    @property
    def batch_progress(self) -> bool | None: ...
    @property
    def batch_poll_interval(self) -> float | None: ...
    @property
    def batch_timeout(self) -> float | None: ...
    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]: ...
    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any: ...
    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage: ...


ModelT = TypeVar("ModelT", bound=BatchableChatModel)

# Keyword arguments LangChain consumes for tracing; they never reach the request body.
_TRACING_ONLY = frozenset({"ls_structured_output_format"})
# The window closes as soon as every input's call is waiting; this only bounds a straggler.
MAX_WAIT = 5.0


def _refusals(
    model: BatchableChatModel, inputs: list[LanguageModelInput], return_exceptions: bool, kwargs: dict[str, Any]
) -> dict[int, Exception]:
    """Inputs compat refuses (raised at once unless returned), found before anything is submitted."""
    refused: dict[int, Exception] = {}
    request_kwargs = {k: v for k, v in kwargs.items() if k not in _TRACING_ONLY}
    for index, input_ in enumerate(inputs):
        try:
            check_chat_request(model._get_request_payload(input_, **request_kwargs), settings=model.settings)
        except Exception as exc:
            if not return_exceptions:
                raise
            refused[index] = exc
    return refused


def _batched_copy(model: ModelT, transport: MicroBatchTransport) -> ModelT:
    """`model` with kluster clients on the batch transport (its own config otherwise)."""
    root = make_batch_client(transport, model.settings)
    root_async = make_async_batch_client(transport, model.settings)
    copy: ModelT = model.model_copy(
        update={
            "root_client": root,
            "client": root.chat.json_completions,
            "root_async_client": root_async,
            "async_client": root_async.chat.json_completions,
            "use_batch_api": False,
            "streaming": False,
            "adaptive": None,  # each input is a line of this Batch API job, not an adaptive request
        }
    )
    return copy


def _call_kwargs(kwargs: dict[str, Any], index: int) -> dict[str, Any]:
    line = {BATCH_CUSTOM_ID_HEADER: f"lc-{index}", BATCH_POSITION_HEADER: str(index)}  # the job in input order
    headers = {**(kwargs.get("extra_headers") or {}), **line}
    request = {k: v for k, v in kwargs.items() if k != "adaptive"}  # the job is the batch, not adaptive
    return {**request, "stream": False, "extra_headers": headers}


async def abatch(
    model: BatchableChatModel,
    inputs: list[LanguageModelInput],
    config: RunnableConfig | list[RunnableConfig] | None,
    *,
    return_exceptions: bool,
    **kwargs: Any,
) -> list[BaseMessage | Exception]:
    configs = get_config_list(config, len(inputs))
    refused = _refusals(model, inputs, return_exceptions, kwargs)
    accepted = [i for i in range(len(inputs)) if i not in refused]
    batcher = MicroBatcher(
        model.settings,
        max_batch_size=max(1, len(accepted)),
        max_wait=MAX_WAIT,
        completion_window=model.batch_completion_window,
        client=model.root_client,
        poll_interval=model.batch_poll_interval,
        timeout=model.batch_timeout,
        progress=progress_enabled(model.batch_progress, model.settings),
    )
    transport = MicroBatchTransport(batcher, asyncio.get_running_loop(), runs=len(accepted))
    batched = _batched_copy(model, transport)

    async def one(index: int) -> Any:
        try:
            return await batched.ainvoke(inputs[index], configs[index], **_call_kwargs(kwargs, index))
        except Exception as exc:
            return batch_error_from(exc) or exc  # a failed line is its own KlusterBatchError
        finally:
            transport.run_finished()

    async with batcher:
        answers = dict(zip(accepted, await asyncio.gather(*(one(i) for i in accepted)), strict=True))
    outputs: list[BaseMessage | Exception] = [refused[i] if i in refused else answers[i] for i in range(len(inputs))]
    if not return_exceptions:
        failure = next((o for o in outputs if isinstance(o, Exception)), None)
        if failure is not None:
            raise failure
    return outputs


def batch(
    model: BatchableChatModel,
    inputs: list[LanguageModelInput],
    config: RunnableConfig | list[RunnableConfig] | None,
    *,
    return_exceptions: bool,
    **kwargs: Any,
) -> list[BaseMessage | Exception]:
    """Sync `.batch()`: the same run on a private event loop (in a worker thread inside a running loop)."""

    def run() -> list[BaseMessage | Exception]:
        return asyncio.run(abatch(model, inputs, config, return_exceptions=return_exceptions, **kwargs))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="kluster-batch") as pool:
        return pool.submit(run).result()
