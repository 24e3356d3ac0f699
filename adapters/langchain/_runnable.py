"""A LangChain Runnable over a plain call object, with LangChain's own callbacks and tracing.

The adapter's wrappers (prompted-JSON structured output, Verify) are loops around another
runnable; as Runnables they must keep `.batch()` a batch of the inner runnable (so a
`ChatKluster(batch=True)` inside still makes one Batch API job) and, where the call can,
`.stream()` a stream — which a `RunnableLambda` would turn into per-input invokes and one chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, patch_config


class Call(Protocol):
    """What the wrapped loop offers; `batch`/`abatch` return an exception in the place of a failed input."""

    def invoke(self, input_: Any, config: RunnableConfig) -> Any: ...
    async def ainvoke(self, input_: Any, config: RunnableConfig) -> Any: ...
    def batch(self, inputs: list[Any], configs: list[RunnableConfig]) -> list[Any]: ...
    async def abatch(self, inputs: list[Any], configs: list[RunnableConfig]) -> list[Any]: ...


class StreamingCall(Call, Protocol):
    def stream(self, input_: Any, config: RunnableConfig) -> Iterator[Any]: ...
    def astream(self, input_: Any, config: RunnableConfig) -> AsyncIterator[Any]: ...


class CallRunnable(Runnable[Any, Any]):
    """invoke/ainvoke/batch/abatch through `call`; stream/astream too when `call` streams."""

    def __init__(self, call: Call, name: str) -> None:
        self._loop = call
        self.name = name

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        return self._batch_with_config(self._batch, inputs, config, return_exceptions=return_exceptions, **kwargs)

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        return await self._abatch_with_config(
            self._abatch, inputs, config, return_exceptions=return_exceptions, **kwargs
        )

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        if not hasattr(self._loop, "stream"):
            yield from super().stream(input, config, **kwargs)
            return
        yield from self._transform_stream_with_config(iter([input]), self._stream, config, **kwargs)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        if not hasattr(self._loop, "astream"):
            async for chunk in super().astream(input, config, **kwargs):
                yield chunk
            return

        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self._atransform_stream_with_config(one(), self._astream, config, **kwargs):
            yield chunk

    def _invoke(self, input_: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> Any:
        return self._loop.invoke(input_, patch_config(config, callbacks=run_manager.get_child()))

    async def _ainvoke(self, input_: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig) -> Any:
        return await self._loop.ainvoke(input_, patch_config(config, callbacks=run_manager.get_child()))

    def _batch(
        self, inputs: list[Any], run_manager: list[CallbackManagerForChainRun], config: list[RunnableConfig]
    ) -> list[Any]:
        return self._loop.batch(inputs, config)  # `config`: the per-input configs, callbacks already children

    async def _abatch(
        self, inputs: list[Any], run_manager: list[AsyncCallbackManagerForChainRun], config: list[RunnableConfig]
    ) -> list[Any]:
        return await self._loop.abatch(inputs, config)

    def _stream(
        self, inputs: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[Any]:
        loop: Any = self._loop
        child = patch_config(config, callbacks=run_manager.get_child())
        for input_ in inputs:
            yield from loop.stream(input_, child)

    async def _astream(
        self, inputs: AsyncIterator[Any], run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> AsyncIterator[Any]:
        loop: Any = self._loop
        child = patch_config(config, callbacks=run_manager.get_child())
        async for input_ in inputs:
            async for chunk in loop.astream(input_, child):
                yield chunk
