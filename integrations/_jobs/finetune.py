"""Fine-tuning: validate a chat-format training JSONL (line-numbered errors), upload it (Uploads
API when large), create a job with hyperparameters and a nickname, poll, cancel, list — and
register the resulting model so every adapter sees its base model's capabilities.

Docs: kluster-docs "Fine-tuning with the kluster.ai API" (data format, >= 10 examples, files
<= 100 MB, chunked uploads near the limit) and the API reference "Fine-tuning" section
(`nickname`, `hyperparameters.batch_size|n_epochs|learning_rate_multiplier`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import openai
from openai.types.fine_tuning import FineTuningJob, job_create_params
from pydantic import BaseModel, ConfigDict, Field

from kluster_agents.integrations._api.catalog import ModelInfo, get_model, list_models, register_model
from kluster_agents.integrations._api.client import make_client, translate_errors
from kluster_agents.integrations._api.errors import KlusterError, KlusterInvalidRequestError, KlusterUnsupportedError
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._jobs.jsonl import MAX_FILE_BYTES, parse_json_line, upload_file
from kluster_agents.integrations._jobs.polling import check_poll_interval, poll_until

MIN_EXAMPLES = 10
TRAINING_ROLES = ("system", "user", "assistant")
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
_MAX_REPORTED = 20


class KlusterFineTuneError(KlusterError):
    """A fine-tuning job failed or was cancelled; `job_id` says which."""

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class Hyperparameters(BaseModel):
    """The documented knobs; unset ones are left to kluster.ai's defaults."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int | None = Field(default=None, ge=1)
    n_epochs: int | None = Field(default=None, ge=1)
    learning_rate_multiplier: float | None = Field(default=None, gt=0)


@dataclass(frozen=True)
class TrainingFileReport:
    """A training file that passed validation."""

    path: Path
    examples: int
    bytes: int


def _example_problems(obj: dict[str, Any]) -> list[str]:
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["'messages' must be a non-empty list of {role, content} objects"]
    problems = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            problems.append(f"messages[{i}] must be an object")
            continue
        if message.get("role") not in TRAINING_ROLES:
            problems.append(
                f"messages[{i}].role must be one of {', '.join(TRAINING_ROLES)}, got {message.get('role')!r}"
            )
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            problems.append(f"messages[{i}].content must be a non-empty string")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        problems.append("no assistant message: each example needs the answer the model should learn")
    return problems


def _numbered_lines(path: Path) -> Iterable[tuple[int, bytes]]:
    with path.open("rb") as handle:
        yield from enumerate(handle, start=1)


def validate_training_file(path: str | Path, *, min_examples: int = MIN_EXAMPLES) -> TrainingFileReport:
    """Check every line of a chat-format training file; raise one error listing the bad lines."""
    path = Path(path)
    if not path.is_file():
        raise KlusterInvalidRequestError(f"Training file {str(path)!r} does not exist.", parameter="training_file")
    errors: list[str] = []
    examples = 0
    for number, raw in _numbered_lines(path):
        if not raw.strip():
            continue
        try:
            obj = parse_json_line(raw)
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        problems = _example_problems(obj)
        errors.extend(f"line {number}: {p}" for p in problems)
        examples += not problems
    if not errors and examples < min_examples:
        errors.append(f"only {examples} examples; kluster.ai needs at least {min_examples}")
    if errors:
        shown = errors[:_MAX_REPORTED] + (
            [f"... and {len(errors) - _MAX_REPORTED} more"] if len(errors) > _MAX_REPORTED else []
        )
        raise KlusterInvalidRequestError(
            f"Training file {path.name} is not valid chat-format JSONL:\n  " + "\n  ".join(shown),
            parameter="training_file",
        )
    return TrainingFileReport(path, examples, path.stat().st_size)


def fine_tunable_models() -> list[ModelInfo]:
    return [m for m in list_models(include_registered=False) if m.fine_tuning]


def _check_base_model(model: str) -> None:
    info = get_model(model)
    base = get_model(info.base_model) if info.base_model else info
    if info.kind == "unknown" and info.base_model is None:
        return  # we cannot know: the service decides
    if not (info.fine_tuning or base.fine_tuning):
        names = ", ".join(m.id for m in fine_tunable_models())
        raise KlusterUnsupportedError(
            f"{model!r} cannot be fine-tuned on kluster.ai; fine-tunable models: {names}.",
            parameter="model",
            model=model,
        )


def upload_training_file(
    path: str | Path,
    *,
    settings: KlusterSettings | None = None,
    client: openai.OpenAI | None = None,
    validate: bool = True,
    uploads_api_above: int = MAX_FILE_BYTES,
) -> str:
    """Validate and upload a training file (purpose "fine-tune"); returns the file id."""
    path = Path(path)
    if validate:
        validate_training_file(path)
    client = client or make_client(settings)
    with translate_errors():
        return upload_file(client, path, purpose="fine-tune", uploads_api_above=uploads_api_above)


def create_finetune(
    training_file: str | Path,
    *,
    model: str,
    hyperparameters: Hyperparameters | dict[str, Any] | None = None,
    nickname: str | None = None,
    validation_file: str | Path | None = None,
    settings: KlusterSettings | None = None,
    client: openai.OpenAI | None = None,
) -> FineTuningJob:
    """Create a fine-tuning job. `training_file`/`validation_file`: a local path (validated and
    uploaded) or the id of an uploaded file."""
    _check_base_model(model)
    # The model's fields are the documented subset of openai's `Hyperparameters` TypedDict.
    params = cast(
        "job_create_params.Hyperparameters",
        Hyperparameters.model_validate(hyperparameters or {}).model_dump(exclude_none=True),
    )
    settings = resolve_settings(settings)
    client = client or make_client(settings)

    def file_id(value: str | Path) -> str:
        path = Path(value)
        return upload_training_file(path, client=client) if path.exists() else str(value)

    extra: dict[str, Any] = {"nickname": nickname} if nickname else {}
    training_id = file_id(training_file)
    validation_id = file_id(validation_file) if validation_file is not None else None
    with translate_errors():
        return client.fine_tuning.jobs.create(
            training_file=training_id,
            model=get_model(model).id,
            hyperparameters=params or openai.omit,
            validation_file=validation_id or openai.omit,
            extra_body=extra or None,
        )


def get_finetune(
    job_id: str, *, settings: KlusterSettings | None = None, client: openai.OpenAI | None = None
) -> FineTuningJob:
    client = client or make_client(settings)
    with translate_errors():
        return client.fine_tuning.jobs.retrieve(job_id)


def cancel_finetune(
    job_id: str, *, settings: KlusterSettings | None = None, client: openai.OpenAI | None = None
) -> FineTuningJob:
    client = client or make_client(settings)
    with translate_errors():
        # A JSON body: the live service answers the SDK's bodiless cancel with HTTP 500.
        return client.fine_tuning.jobs.cancel(job_id, extra_body={})


def list_finetunes(
    *, limit: int = 20, settings: KlusterSettings | None = None, client: openai.OpenAI | None = None
) -> list[FineTuningJob]:
    client = client or make_client(settings)
    with translate_errors():
        return list(client.fine_tuning.jobs.list(limit=limit).data)


def register_finetuned(job: FineTuningJob) -> str:
    """Make the job's model known to the catalog (inheriting its base's capabilities); returns its name."""
    if job.status != "succeeded" or not job.fine_tuned_model:
        detail = f": {job.error.message}" if job.error and job.error.message else ""
        raise KlusterFineTuneError(f"Fine-tuning job {job.id} ended '{job.status}'{detail}.", job_id=job.id)
    known = bool(job.model) and get_model(job.model).kind != "unknown"  # a base newer than our catalog: infer
    register_model(job.fine_tuned_model, base=job.model if known else None, kind="fine-tuned")
    return job.fine_tuned_model


_STEP_EVENT = re.compile(
    r"Step (?P<step>\d+)/(?P<total>\d+): training loss=(?P<train>[-+0-9.eE]+)"
    r"(?:,\s*validation loss=(?P<valid>[-+0-9.eE]+))?"
)


@dataclass(frozen=True)
class TrainingStep:
    """One "Step k/N: training loss=..." event (the live service's per-step progress)."""

    step: int
    total: int
    train_loss: float
    validation_loss: float | None = None


def parse_step_event(message: str) -> TrainingStep | None:
    """The step and losses of a fine-tuning event message, or None for other events."""
    match = _STEP_EVENT.search(message or "")
    if match is None:
        return None
    valid = match.group("valid")
    return TrainingStep(
        int(match.group("step")),
        int(match.group("total")),
        float(match.group("train")),
        float(valid) if valid is not None else None,
    )


def training_steps(
    job_id: str, *, settings: KlusterSettings | None = None, client: openai.OpenAI | None = None, limit: int = 100
) -> list[TrainingStep]:
    """The job's step events (oldest first, the newest `limit` events): a loss curve."""
    client = client or make_client(settings)
    with translate_errors():
        events = list(client.fine_tuning.jobs.list_events(job_id, limit=limit).data)
    steps = [parse_step_event(e.message) for e in reversed(events)]
    return [s for s in steps if s is not None]


def wait_for_finetune(
    job_id: str,
    *,
    settings: KlusterSettings | None = None,
    client: openai.OpenAI | None = None,
    poll_interval: float | None = None,
    timeout: float | None = None,
    progress: bool = False,
) -> FineTuningJob:
    """Poll until the job is finished; a succeeded job's model is registered in the catalog.
    With `progress`, the display shows training steps and loss from the job's step events."""
    client = client or make_client(settings)

    def fetch() -> tuple[FineTuningJob, TrainingStep | None]:
        job = get_finetune(job_id, client=client)
        if not progress or job.status in ("validating_files", "queued"):
            return job, None
        steps = training_steps(job_id, client=client, limit=20)
        return job, steps[-1] if steps else None

    def describe(state: tuple[FineTuningJob, TrainingStep | None]) -> tuple[int | None, int, str]:
        job, step = state
        tokens = f", {job.trained_tokens:,} tokens" if job.trained_tokens else ""
        if step is not None:
            loss = f", loss {step.train_loss:.4f}" + (
                f" (validation {step.validation_loss:.4f})" if step.validation_loss is not None else ""
            )
            return step.total, step.step, f"{job.status}{loss}{tokens}"
        return 1, int(job.status in TERMINAL_STATUSES), f"{job.status}{tokens}"

    job, _ = poll_until(
        fetch,
        lambda state: state[0].status in TERMINAL_STATUSES,
        describe,
        label=f"Fine-tuning {job_id}",
        poll_interval=poll_interval,
        timeout=timeout,
        progress=progress,
    )
    if job.status == "succeeded":
        register_finetuned(job)
    return job


def finetune(
    training_file: str | Path,
    *,
    model: str,
    hyperparameters: Hyperparameters | dict[str, Any] | None = None,
    nickname: str | None = None,
    settings: KlusterSettings | None = None,
    client: openai.OpenAI | None = None,
    poll_interval: float | None = None,
    timeout: float | None = None,
    progress: bool = False,
) -> str:
    """Validate, upload, train and wait; returns the fine-tuned model name, ready for any adapter."""
    check_poll_interval(poll_interval)
    client = client or make_client(settings)
    job = create_finetune(training_file, model=model, hyperparameters=hyperparameters, nickname=nickname, client=client)
    job = wait_for_finetune(job.id, client=client, poll_interval=poll_interval, timeout=timeout, progress=progress)
    return register_finetuned(job)
