"""kluster's Batch API from LiteLLM, two ways.

1. LiteLLM's own file/batch functions (`create_file`, `create_batch`, `retrieve_batch`,
   `file_content`, and their `a*` twins) aimed at kluster: pass `**batch_kwargs()` to each.
   It always sets `custom_llm_provider="openai"`, `api_base` AND `api_key` — without them
   LiteLLM falls back to OPENAI_BASE_URL/OPENAI_API_KEY and api.openai.com. Write the input
   file with `batch_file_line()` so every line has been through compat. It also makes LiteLLM's
   batch calls to that base URL survive the live service's batch objects (`pre_schedule`,
   `errors: []`) and bodiless-cancel 500 (see `batch_shapes`); the service's own status is
   `kluster_status(batch)`.
2. `batch_completion_via_api(requests)`: our batch engine (`run_batch`: chunking by tier limit,
   polling, journal/resume, failed lines by `custom_id`) returning LiteLLM `ModelResponse`s in
   input order — the batch twin of `litellm.batch_completion`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

from litellm.llms.base_llm.base_utils import type_to_response_format_param
from litellm.types.utils import ModelResponse
from litellm.utils import convert_to_model_response_object
from openai.types.chat import ChatCompletion

from kluster_agents.adapters.litellm import _batch_shapes as batch_shapes
from kluster_agents.adapters.litellm._model_map import model_name
from kluster_agents.adapters.litellm._response import with_batch_cost
from kluster_agents.adapters.litellm._structured_output import (
    SchemaRequest,
    prompted_messages,
    schema_request,
    tool_call_to_content,
    tool_kwargs,
)
from kluster_agents.integrations._api.compat import prepare_chat_request
from kluster_agents.integrations._api.errors import KlusterBatchError
from kluster_agents.integrations._api.reasoning import split_reasoning
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._api.structured import parse_structured
from kluster_agents.integrations._jobs.batch.decode import BatchResult
from kluster_agents.integrations._jobs.batch.run import arun_batch, run_batch
from kluster_agents.integrations._jobs.jsonl import batch_line, dumps
from kluster_agents.integrations._jobs.polling import progress_enabled


def batch_kwargs(settings: KlusterSettings | None = None, **overrides: Any) -> dict[str, str]:
    """Keyword arguments that send LiteLLM's file/batch functions to kluster.ai (key required);
    LiteLLM's batch calls to this base URL then read the service's batch objects leniently."""
    settings = resolve_settings(settings, **overrides)
    batch_shapes.install(settings.base_url)
    return {"custom_llm_provider": "openai", "api_base": settings.base_url, "api_key": settings.require_api_key()}


def _without_prefix(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request with `kluster/` removed from its model name."""
    model = request.get("model")
    return {**request, "model": model_name(model)} if isinstance(model, str) else dict(request)


def _batch_request(
    request: Mapping[str, Any], settings: KlusterSettings
) -> tuple[dict[str, Any], SchemaRequest | None]:
    """One batch line's body, as `completion()` would send it: a `response_format` schema (a pydantic
    class or json_schema) becomes a forced tool call or prompted JSON, as in real time (a batch line
    gets no retry: an invalid answer fails that line)."""
    body = _without_prefix(request)
    fmt = body.get("response_format")
    if fmt is not None and not isinstance(fmt, Mapping):
        body["response_format"] = type_to_response_format_param(fmt)
    schema = schema_request(body, settings) if isinstance(body.get("model"), str) else None
    if schema is None:
        return body, None
    if schema.use_tool:
        return tool_kwargs(body, schema), schema
    return {**body, "messages": prompted_messages(list(body["messages"]), schema)}, schema


def _structured_answer(completion: ChatCompletion, schema: SchemaRequest | None) -> dict[str, Any]:
    """The line's answer with the schema's JSON as its content (validated when it was prompted)."""
    body = completion.model_dump()
    if schema is None:
        return body
    if schema.use_tool:
        return tool_call_to_content(body, schema)
    message = body["choices"][0]["message"]
    parsed = parse_structured(split_reasoning(message.get("content") or "").content, schema.schema)
    message["content"] = json.dumps(parsed, ensure_ascii=False)
    return body


def batch_file_line(custom_id: str, request: Mapping[str, Any], *, settings: KlusterSettings | None = None) -> bytes:
    """One JSONL input line for `create_file(purpose="batch")`; the body goes through compat
    (`kluster/` prefixes removed, parameters dropped/translated, refusals raised now)."""
    body = {k: v for k, v in _without_prefix(request).items() if k != "custom_id"}
    return batch_line(custom_id, dumps(prepare_chat_request(body, settings=settings)))


def to_model_response(completion: ChatCompletion, schema: SchemaRequest | None = None) -> ModelResponse:
    """A batch line's `ChatCompletion` as the `ModelResponse` `litellm.completion` would return."""
    # LiteLLM leaves the return unannotated: it is the response type asked for.
    return cast(
        ModelResponse,
        convert_to_model_response_object(
            response_object=_structured_answer(completion, schema), model_response_object=ModelResponse()
        ),
    )


def _responses(
    results: Iterable[BatchResult], schemas: Sequence[SchemaRequest | None], return_exceptions: bool
) -> list[ModelResponse | KlusterBatchError]:
    out: list[ModelResponse | KlusterBatchError] = []
    for result, schema in zip(results, schemas, strict=True):
        if result.ok:
            out.append(with_batch_cost(to_model_response(result.unwrap(), schema), result.cost))
        elif return_exceptions:
            out.append(
                result.error or KlusterBatchError(f"request {result.index} {result.status}", custom_id=result.custom_id)
            )
        else:
            result.unwrap()  # raises the line's KlusterBatchError (custom_id, server message)
    return out


def _prepared(
    requests: Iterable[Mapping[str, Any]], settings: KlusterSettings | None, schemas: list[SchemaRequest | None]
) -> Iterator[dict[str, Any]]:
    """The batch bodies, read lazily as the engine writes its input file; each line's schema (or None)
    is appended to `schemas` in input order."""
    resolved = resolve_settings(settings)
    for request in requests:
        body, schema = _batch_request(request, resolved)
        schemas.append(schema)
        yield body


def _with_progress(options: dict[str, Any]) -> dict[str, Any]:
    """`progress` None or absent follows KLUSTER_PROGRESS ('auto': a progress display only on a terminal)."""
    return {**options, "progress": progress_enabled(options.get("progress"), options.get("settings"))}


def batch_completion_via_api(
    requests: Iterable[Mapping[str, Any]],
    *,
    return_exceptions: bool = False,
    **run_batch_options: Any,
) -> list[ModelResponse | KlusterBatchError]:
    """Run chat requests (`{"model": "kluster/<id>" or "<id>", "messages": [...], ...}`, optional
    `custom_id`) through kluster's Batch API and return `ModelResponse`s in input order.

    A failed/expired/cancelled line raises its `KlusterBatchError` (with `custom_id`), or with
    `return_exceptions=True` takes that line's place in the list. Other options go to `run_batch`
    (settings, completion_window, metadata, journal, poll_interval, timeout, progress, ...); `progress`
    defaults to the KLUSTER_PROGRESS setting ('auto': a progress display only on a terminal).
    """
    schemas: list[SchemaRequest | None] = []
    results = run_batch(
        _prepared(requests, run_batch_options.get("settings"), schemas), **_with_progress(run_batch_options)
    )
    return _responses(results, schemas, return_exceptions)


async def abatch_completion_via_api(
    requests: Iterable[Mapping[str, Any]],
    *,
    return_exceptions: bool = False,
    **run_batch_options: Any,
) -> list[ModelResponse | KlusterBatchError]:
    """Async twin of `batch_completion_via_api`."""
    schemas: list[SchemaRequest | None] = []
    bodies = list(_prepared(requests, run_batch_options.get("settings"), schemas))
    results = await arun_batch(bodies, **_with_progress(run_batch_options))
    return _responses(results, schemas, return_exceptions)
