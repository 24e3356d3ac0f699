"""`MicroBatcher`: concurrent callers `await mb.complete(request)` like a normal completion, while
their calls are coalesced into Batch API jobs (one per window of `max_wait` seconds or
`max_batch_size` calls). Each caller gets its own completion or its own line's error.

For agent work that can wait (the Batch API is cheaper than real-time). Adapters do not call it
directly: their openai clients talk to it through `batch_transport.MicroBatchTransport`, the one
batch-mode seam. Compat runs exactly once per request: here when a request joins a window, or
in the kluster openai client before the transport (then `compat_applied=True`), never again
when the window is written. Bad requests fail their own caller at once, before joining a
window, so one caller's mistake never sinks the others' job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from kluster_agents.integrations._api.compat import prepare_chat_request
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._jobs.batch.submit import asubmit_batch, check_completion_window
from kluster_agents.integrations._jobs.polling import check_poll_interval


@dataclass
class _Pending:
    body: dict[str, Any]
    future: asyncio.Future[ChatCompletion]
    custom_id: str | None
    position: int | None = None


def _in_order(window: list[_Pending]) -> list[_Pending]:
    """Callers that gave a `position` first, ascending; the rest after, in the order they joined."""
    return sorted(window, key=lambda item: (item.position is None, item.position or 0))


def _line_ids(window: list[_Pending]) -> list[str]:
    """Each caller's own id where it is unique in the window, else `auto-<position>`."""
    wanted = [item.custom_id for item in window]
    counts: dict[str, int] = {}
    for cid in wanted:
        if cid is not None:
            counts[cid] = counts.get(cid, 0) + 1
    ids: list[str] = []
    taken = {cid for cid, n in counts.items() if n == 1}
    for position, cid in enumerate(wanted):
        if cid is not None and counts[cid] == 1:
            ids.append(cid)
            continue
        line_id = f"auto-{position}"
        while line_id in taken:
            line_id += "_"
        taken.add(line_id)
        ids.append(line_id)
    return ids


@dataclass
class MicroBatchStats:
    """What the batcher did: calls received, windows flushed, batch jobs created."""

    calls: int = 0
    windows: int = 0
    jobs: int = 0
    window_sizes: list[int] = field(default_factory=list)


class MicroBatcher:
    """Coalesce concurrent chat completions into Batch API jobs (see the module docstring).

    `async with MicroBatcher(settings, max_batch_size=1000, max_wait=0.5) as mb:` — on exit,
    pending calls are flushed and every in-flight job is awaited.
    """

    def __init__(
        self,
        settings: KlusterSettings | None = None,
        *,
        max_batch_size: int = 1000,
        max_wait: float = 0.5,
        completion_window: str = "24h",
        client: openai.OpenAI | None = None,
        poll_interval: float | None = None,
        timeout: float | None = None,
        progress: bool = False,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if max_wait < 0:
            raise ValueError("max_wait must be >= 0 seconds")
        self.settings = resolve_settings(settings)
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.completion_window = check_completion_window(completion_window)
        self.poll_interval = check_poll_interval(poll_interval)
        self.timeout = timeout
        self.progress = progress
        self.stats = MicroBatchStats()
        self._client = client
        self._pending: list[_Pending] = []
        self._timer: asyncio.TimerHandle | None = None
        self._windows: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> MicroBatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Flush pending calls and wait for every submitted window to resolve."""
        self.flush()
        while self._windows:
            await asyncio.gather(*list(self._windows), return_exceptions=True)

    async def complete(
        self,
        request: Mapping[str, Any],
        *,
        custom_id: str | None = None,
        position: int | None = None,
        compat_applied: bool = False,
    ) -> ChatCompletion:
        """Queue one chat request; returns its completion or raises its line's `KlusterError`.

        `custom_id` (or the request's own) names the line when it is unique in its window; a
        clash gets a generated id, so callers never collide. `position` orders the lines of a
        window (e.g. a `.batch()` writes its inputs in input order, whatever order the calls
        arrive in; the service does not care, a reader of the job does). `compat_applied=True` says the
        body already went through `prepare_chat_request` (a kluster openai client did it).
        """
        body = dict(request)
        wanted = custom_id or body.pop("custom_id", None)
        body.pop("custom_id", None)
        if not compat_applied:
            body = prepare_chat_request(body, settings=self.settings)  # bad input fails this caller now
        future: asyncio.Future[ChatCompletion] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(body, future, wanted if isinstance(wanted, str) and wanted else None, position))
        self.stats.calls += 1
        if len(self._pending) >= self.max_batch_size:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.max_wait, self.flush)
        return await future

    def flush(self) -> None:
        """Submit the pending calls now as one window."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        window, self._pending = _in_order(self._pending), []
        self.stats.windows += 1
        self.stats.window_sizes.append(len(window))
        task = asyncio.get_running_loop().create_task(self._run(window))
        self._windows.add(task)
        task.add_done_callback(self._windows.discard)

    async def _run(self, window: list[_Pending]) -> None:
        try:
            with await asubmit_batch(
                [{**item.body, "custom_id": line_id} for item, line_id in zip(window, _line_ids(window), strict=True)],
                settings=self.settings,
                client=self._client,
                completion_window=self.completion_window,
                journal=False,
                poll_interval=self.poll_interval,
                compat_applied=True,  # every body went through compat once when it joined
            ) as handle:
                self.stats.jobs += len(handle.batch_ids)
                results = await handle.aresults(timeout=self.timeout, progress=self.progress)
            for item, result in zip(window, results, strict=True):
                future = item.future
                if future.done():  # the caller gave up
                    continue
                try:
                    future.set_result(result.unwrap())
                except Exception as exc:  # this line's own error, for this caller only
                    future.set_exception(exc)
        except BaseException as exc:  # any failure of the window reaches every waiter: nobody hangs
            error = exc if isinstance(exc, Exception) else asyncio.CancelledError()
            for item in window:
                if not item.future.done():
                    item.future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
