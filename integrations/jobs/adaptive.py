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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai
from openai.types.chat import ChatCompletion

from kluster_agents.integrations.api.client import make_client, translate_errors
from kluster_agents.integrations.api.compat import prepare_chat_request
from kluster_agents.integrations.api.errors import KlusterBatchError, KlusterInvalidRequestError, KlusterNotFoundError
from kluster_agents.integrations.api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations.jobs.batch import check_completion_window
from kluster_agents.integrations.jobs.batch_results import build_result, line_ok
from kluster_agents.integrations.jobs.jsonl import dumps, iter_json_lines, iter_remote_lines
from kluster_agents.integrations.jobs.polling import wait_for_batch

if TYPE_CHECKING:
    from openai.types import Batch

KLUSTER_METADATA_KEY = "@kluster.ai"


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
        raise KlusterInvalidRequestError("stream=True cannot be combined with adaptive inference.", parameter="stream")
    user_metadata = {k: v for k, v in (body.pop("metadata", None) or {}).items() if k != KLUSTER_METADATA_KEY}
    body["metadata"] = adaptive_metadata(
        completion_window,
        strict_completion_window=strict_completion_window,
        callback_url=callback_url,
        **user_metadata,
    )
    client = client or make_client(settings)
    with translate_errors():
        placeholder = client.chat.completions.create(**body)
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
    client = client or make_client(settings)
    queued = submit_adaptive(
        request,
        settings=settings,
        client=client,
        completion_window=completion_window,
        strict_completion_window=strict_completion_window,
        callback_url=callback_url,
    )
    batch = wait_for_batch(client, queued.batch_id, poll_interval=poll_interval, timeout=timeout, progress=progress)
    try:
        return result_of(client, batch)
    except KlusterBatchError as exc:
        exc.args = (f"Adaptive request (batch {batch.id}): {exc.message}",)
        raise


async def acomplete_adaptive(request: Mapping[str, Any], **options: Any) -> ChatCompletion:
    """`complete_adaptive` for asyncio (runs in a worker thread; the loop stays free)."""
    return await asyncio.to_thread(complete_adaptive, request, **options)
