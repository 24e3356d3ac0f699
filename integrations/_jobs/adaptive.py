"""Adaptive (async) inference: a chat completion with `metadata["@kluster.ai"]["async"] = true`
is queued as a batch job and answered with a placeholder ("Your request has been queued for
adaptive inference..."). `complete_adaptive` sends it, finds the job and returns the *eventual*
completion, never the placeholder.

Docs (API reference, "Submit an async request"): the response is "the Batch object including the
job ID"; the documented example is a chat.completion whose id is `<batch id>_<timestamp>`. Both
shapes are handled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import openai
from openai.types.chat import ChatCompletion

from kluster_agents.integrations._api import tracing
from kluster_agents.integrations._api.adaptive_requests import KLUSTER_METADATA_KEY, refuse_adaptive_stream
from kluster_agents.integrations._api.client import make_client, translate_errors
from kluster_agents.integrations._api.compat import prepare_chat_request
from kluster_agents.integrations._api.errors import (
    KlusterBatchError,
    KlusterConfigError,
    KlusterInvalidRequestError,
    KlusterNotFoundError,
)
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._jobs.batch.decode import build_result, line_ok
from kluster_agents.integrations._jobs.batch.submit import check_completion_window
from kluster_agents.integrations._jobs.jsonl import dumps, iter_json_lines, iter_remote_lines
from kluster_agents.integrations._jobs.polling import check_poll_interval, wait_for_batch

if TYPE_CHECKING:
    from openai.types import Batch


@dataclass(frozen=True)
class AdaptiveMode:
    """Adaptive ("async") inference for a chat model: what an adapter's `adaptive=` option holds.

    Requests carry `metadata["@kluster.ai"]`; the kluster client waits for the job and returns the
    real completion (`KLUSTER_POLL_INTERVAL`, `KLUSTER_ADAPTIVE_TIMEOUT`).
    """

    completion_window: str = "24h"
    strict_completion_window: bool | None = None
    callback_url: str | None = None

    def __post_init__(self) -> None:
        self.metadata()  # a bad window or callback URL is refused when the mode is made, not at the first call

    @classmethod
    def coerce(cls, value: bool | AdaptiveMode | Mapping[str, Any] | None) -> AdaptiveMode | None:
        """An adapter option as given by a user: True (defaults), a mapping of fields, a mode, or off."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, AdaptiveMode):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {f.name for f in fields(cls)}
            if unknown:
                raise KlusterConfigError(
                    f"adaptive={dict(value)!r}: unknown option(s) {sorted(unknown)}; use completion_window, "
                    "strict_completion_window and callback_url."
                )
            return cls(**value)
        raise KlusterConfigError(
            f"adaptive={value!r}: use True, False, a dict of AdaptiveMode fields or an AdaptiveMode instance."
        )

    def metadata(self) -> dict[str, Any]:
        """`{"@kluster.ai": {...}}`: what a chat completion's `metadata` carries to run adaptively."""
        return adaptive_metadata(
            self.completion_window,
            strict_completion_window=self.strict_completion_window,
            callback_url=self.callback_url,
        )


def with_adaptive(body: dict[str, Any], mode: AdaptiveMode | None) -> dict[str, Any]:
    """`body` with `mode`'s options merged into its `metadata` (the caller's own keys kept); as is when off."""
    if mode is None:
        return body
    return {**body, "metadata": {**(body.get("metadata") or {}), **mode.metadata()}}


def adaptive_metadata(
    completion_window: str = "24h",
    *,
    strict_completion_window: bool | None = None,
    callback_url: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """`metadata` for an async chat completion: `{"@kluster.ai": {"async": True, ...}, **extra}`."""
    options: dict[str, Any] = {"async": True, "completion_window": check_completion_window(completion_window)}
    if strict_completion_window is not None:
        options["strict_completion_window"] = strict_completion_window
    if callback_url is not None:
        if not callback_url.startswith(("http://", "https://")):
            raise KlusterInvalidRequestError(
                f"callback_url must be an http(s) URL, got {callback_url!r}.", parameter="callback_url"
            )
        options["callback_url"] = callback_url
    return {**extra, KLUSTER_METADATA_KEY: options}


@dataclass(frozen=True)
class AdaptiveRequest:
    """A queued async request: the batch job that will answer it, and the placeholder reply."""

    batch_id: str
    placeholder: Any


def _candidate_ids(response: Any) -> list[str]:
    ident = str(getattr(response, "id", "") or "")
    if getattr(response, "object", None) == "batch" or "_" not in ident:
        return [ident] if ident else []
    return [ident.split("_", 1)[0], ident]


def job_of(client: openai.OpenAI, placeholder: Any) -> AdaptiveRequest:
    """The batch job that will answer a placeholder (its id is the placeholder's id, or its prefix)."""
    with translate_errors():
        for candidate in _candidate_ids(placeholder):
            try:
                return AdaptiveRequest(client.batches.retrieve(candidate).id, placeholder)
            except openai.NotFoundError:
                continue
    raise KlusterNotFoundError(
        f"kluster.ai queued the request (reply id {getattr(placeholder, 'id', None)!r}) but no batch job with a "
        "matching id exists; look for it with `kluster-agents batch list`.",
        status_code=404,
    )


def submit_adaptive(
    request: Mapping[str, Any],
    *,
    settings: KlusterSettings | None = None,
    client: openai.OpenAI | None = None,
    completion_window: str = "24h",
    strict_completion_window: bool | None = None,
    callback_url: str | None = None,
) -> AdaptiveRequest:
    """Send `request` as an adaptive (async) chat completion and return the job that will answer it."""
    settings = resolve_settings(settings)
    body = prepare_chat_request(request, settings=settings)
    if body.get("stream"):
        raise refuse_adaptive_stream(body.get("model"))
    user_metadata = {k: v for k, v in (body.pop("metadata", None) or {}).items() if k != KLUSTER_METADATA_KEY}
    body["metadata"] = adaptive_metadata(
        completion_window,
        strict_completion_window=strict_completion_window,
        callback_url=callback_url,
        **user_metadata,
    )
    client = client or make_client(settings)
    with translate_errors():
        # the raw POST: a kluster client's `chat.completions.create` would wait for the answer itself
        placeholder = client.post("/chat/completions", body=body, cast_to=ChatCompletion)
    return job_of(client, placeholder)


def result_of(client: openai.OpenAI, batch: Batch) -> ChatCompletion:
    """The completion of a finished single-request job, or raise its typed error."""
    with translate_errors():
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                for obj in iter_json_lines(
                    iter_remote_lines(client, file_id), source=f"batch {batch.id} file {file_id}"
                ):
                    return build_result(0, str(obj.get("custom_id")), line_ok(obj), dumps(obj), batch).unwrap()
    return build_result(0, "adaptive", None, None, batch).unwrap()


def complete_adaptive(
    request: Mapping[str, Any],
    *,
    settings: KlusterSettings | None = None,
    client: openai.OpenAI | None = None,
    completion_window: str = "24h",
    strict_completion_window: bool | None = None,
    callback_url: str | None = None,
    poll_interval: float | None = None,
    timeout: float | None = None,
    progress: bool = False,
) -> ChatCompletion:
    """Send an adaptive-inference request and wait for its real completion (polling the job).

    Raises `KlusterBatchError` if the job fails, expires or is cancelled, and `KlusterTimeoutError`
    after `timeout` seconds (the job keeps running; its id is in the message).
    """
    settings = resolve_settings(settings)
    check_poll_interval(poll_interval)
    client = client or make_client(settings)
    with _span(request.get("model")) as traced:
        queued = submit_adaptive(
            request,
            settings=settings,
            client=client,
            completion_window=completion_window,
            strict_completion_window=strict_completion_window,
            callback_url=callback_url,
        )
        traced.set({"kluster.batch.id": queued.batch_id})
        batch = wait_for_batch(client, queued.batch_id, poll_interval=poll_interval, timeout=timeout, progress=progress)
        return _answer(client, batch, traced)


def _span(model: Any) -> AbstractContextManager[tracing.Span]:
    """An adaptive request's span, named as the GenAI conventions name a chat call."""
    attributes: tracing.Attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": str(model),
        "kluster.adaptive": True,
    }
    return tracing.span(f"chat {model}", attributes)


def _answer(client: openai.OpenAI, batch: Batch, traced: tracing.Span) -> ChatCompletion:
    traced.set(tracing.batch_attributes(batch))
    try:
        completion = result_of(client, batch)
    except KlusterBatchError as exc:
        exc.args = (f"Adaptive request (batch {batch.id}): {exc.message}",)
        raise
    traced.set({"gen_ai.response.id": completion.id, "gen_ai.response.model": completion.model})
    traced.set(tracing.usage_attributes(completion.usage))
    return completion


def resolve_placeholder(
    client: openai.OpenAI, placeholder: Any, settings: KlusterSettings | None = None
) -> ChatCompletion:
    """The real completion behind a placeholder: find its job, wait for it (the settings' poll interval and
    `adaptive_timeout`), return its answer or raise the job's typed error."""
    settings = resolve_settings(settings)
    with _span(getattr(placeholder, "model", None)) as traced:
        queued = job_of(client, placeholder)
        traced.set({"kluster.batch.id": queued.batch_id})
        batch = wait_for_batch(
            client, queued.batch_id, poll_interval=settings.poll_interval, timeout=settings.adaptive_timeout
        )
        return _answer(client, batch, traced)


async def acomplete_adaptive(request: Mapping[str, Any], **options: Any) -> ChatCompletion:
    """`complete_adaptive` for asyncio (runs in a worker thread; the loop stays free)."""
    return await asyncio.to_thread(complete_adaptive, request, **options)


async def aresolve_placeholder(
    client: Any, placeholder: Any, settings: KlusterSettings | None = None
) -> ChatCompletion:
    """`resolve_placeholder` for an async client: the job is awaited in a worker thread on a sync client with
    the same settings, so the event loop stays free."""
    settings = resolve_settings(settings)
    return await asyncio.to_thread(resolve_placeholder, make_client(settings), placeholder, settings)
