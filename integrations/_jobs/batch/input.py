"""Batch input preparation: each request validated through compat once and written to JSONL chunk
files; unknown models are checked against `/v1/models` before anything is uploaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from pydantic import BaseModel

from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations._api.client import translate_errors
from kluster_agents.integrations._api.compat import RequestShapes
from kluster_agents.integrations._api.errors import KlusterError, KlusterInvalidRequestError
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._jobs.jsonl import (
    BATCH_ENDPOINT,
    Chunk,
    ChunkedWriter,
    LineIndex,
    dumps,
    encode_batch_line,
)

# --- building the input ---------------------------------------------------------------------------------


def _as_body(request: Any, index: int) -> tuple[str | None, dict[str, Any]]:
    """(custom_id, chat body) from a chat body, a pydantic model, or a batch line {custom_id, body, ...}."""
    if type(request) is dict and "messages" in request:  # a plain chat body, the common case
        body = request.copy()
        custom_id = body.pop("custom_id", None)
        if custom_id is None or (type(custom_id) is str and custom_id.strip()):
            return custom_id, body
        request = {**body, "custom_id": custom_id}  # the checks below name the problem
    if isinstance(request, BaseModel):
        request = request.model_dump(exclude_none=True, by_alias=True)
    if not isinstance(request, Mapping):
        raise KlusterInvalidRequestError(
            f"Request {index} must be a chat request dict (model, messages, ...) or a pydantic model, "
            f"got {type(request).__name__}.",
            parameter=f"requests[{index}]",
        )
    body = dict(request)
    custom_id = body.pop("custom_id", None)
    if "body" in body and "messages" not in body:  # already a batch line
        url, method = body.get("url", BATCH_ENDPOINT), body.get("method", "POST")
        if not isinstance(method, str) or method.upper() != "POST":
            raise KlusterInvalidRequestError(
                f"Request {index}: method {method!r} is not supported; batch lines are POST {BATCH_ENDPOINT}.",
                parameter=f"requests[{index}].method",
            )
        if url != BATCH_ENDPOINT:
            raise KlusterInvalidRequestError(
                f"Request {index}: url {url!r} is not supported; kluster.ai batches only {BATCH_ENDPOINT}.",
                parameter=f"requests[{index}].url",
            )
        body = dict(body["body"])
    if custom_id is not None and (not isinstance(custom_id, str) or not custom_id.strip()):
        raise KlusterInvalidRequestError(
            f"Request {index}: custom_id must be a non-empty string, got {custom_id!r}.",
            parameter=f"requests[{index}].custom_id",
        )
    return custom_id, body


def _at_line(exc: KlusterError, index: int, custom_id: str) -> KlusterError:
    """Name the offending line in an error raised while validating it (same type, same attributes)."""
    exc.args = (f"Request {index} (custom_id {custom_id!r}): {exc.message}",)
    return exc


@dataclass
class PreparedInput:
    chunks: list[Chunk]
    index: LineIndex
    run_key: str
    unknown_models: dict[str, tuple[int, str]]  # name -> first (index, custom_id) using it


def prepare_requests(
    requests: Iterable[Any],
    settings: KlusterSettings,
    workdir: Path,
    *,
    max_requests_per_job: int | None,
    max_file_bytes: int,
    run_options: Mapping[str, Any],
    compat_applied: bool = False,
) -> PreparedInput:
    """Validate every request and stream it to chunk files; nothing touches the network.

    Compat runs once per request here, unless `compat_applied` (the body was prepared already).
    """
    writer = ChunkedWriter(workdir, max_lines=max_requests_per_job, max_bytes=max_file_bytes)
    index = LineIndex(workdir / "lines.sqlite3")
    digest = hashlib.sha256(dumps({"base_url": settings.base_url, **run_options}).encode())
    tier_limited = max_requests_per_job is None
    unknown: dict[str, tuple[int, str]] = {}
    seen_models: set[str] = set()  # per-model decisions (catalog entry, line limit) are made once
    shapes = RequestShapes(settings)  # compat decisions per (model, parameter names), made once
    try:
        for i, request in enumerate(requests):
            custom_id, body = _as_body(request, i)
            custom_id = custom_id or f"auto-{i}"
            try:
                if body.get("stream"):
                    raise KlusterInvalidRequestError("stream=True cannot be batched; remove it.", parameter="stream")
                if not compat_applied:
                    body = shapes.prepare(body)  # the one compat pass of this line
            except KlusterError as exc:
                raise _at_line(exc, i, custom_id) from None
            model = body["model"]
            if model not in seen_models:  # compat resolved it; the catalog is read once per model
                seen_models.add(model)
                _model_decisions(model, settings, writer, unknown, (i, custom_id), tier_limited=tier_limited)
            try:
                line = encode_batch_line(custom_id, body)
            except TypeError as exc:
                raise KlusterInvalidRequestError(
                    f"Request {i} (custom_id {custom_id!r}) holds a value JSON cannot carry ({exc}); pass plain "
                    "strings, numbers, lists and dicts.",
                    parameter=f"requests[{i}]",
                ) from None
            digest.update(line)
            chunk = writer.write(line, index=i, custom_id=custom_id)
            index.add(i, custom_id, chunk.number)
        index.flush()
    except BaseException:
        writer.close()
        index.close()
        raise
    chunks = writer.close()
    if not chunks:
        index.close()
        raise KlusterInvalidRequestError("The batch is empty: pass at least one chat request.", parameter="requests")
    return PreparedInput(chunks, index, digest.hexdigest(), unknown)


def _model_decisions(
    model: str,
    settings: KlusterSettings,
    writer: ChunkedWriter,
    unknown: dict[str, tuple[int, str]],
    first_use: tuple[int, str],
    *,
    tier_limited: bool,
) -> None:
    """What a model means for the whole run, decided at its first line: checked against GET /v1/models
    when the catalog does not know it, and the tier's line limit per job."""
    info = get_model(model)
    if info.kind == "unknown":
        unknown.setdefault(info.id, first_use)
    limits = info.limits_for(settings.tier)
    if tier_limited and limits is not None and limits.max_batch_requests is not None:
        writer.max_lines = min(writer.max_lines or limits.max_batch_requests, limits.max_batch_requests)


STRICT_MODELS_OFF = "pass strict_models=False"


def check_models(client: openai.OpenAI, unknown: Mapping[str, tuple[int, str]]) -> None:
    """Names the catalog does not know are checked once against GET /v1/models (strict_models=True)."""
    if not unknown:
        return
    with translate_errors():
        served = {m.id.lower() for m in client.models.list().data}
    for name, (i, custom_id) in unknown.items():
        if name.lower() not in served:
            raise KlusterInvalidRequestError(
                f"Request {i} (custom_id {custom_id!r}): model {name!r} is neither in the kluster.ai catalog nor "
                f"in GET /v1/models for this key; fix the name (see `kluster-agents models`) or {STRICT_MODELS_OFF} "
                "to let the service decide.",
                parameter=f"requests[{i}].model",
            )
