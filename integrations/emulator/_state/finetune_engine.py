"""Fine-tuning jobs on the emulated clock, producing a model named like the docs'
`ft:meta-llama:Llama-3.1-8B-Instruct:personal:805b5d69` that then works in chat completions and
appears in /v1/models. Failed on a bad training file; cancelling -> cancelled on cancel.

Default modes, as observed in the vendor's executed fine-tuning notebooks: with no hyperparameters
the job uses `batch_size 1, learning_rate_multiplier 1.0, n_epochs 10`; jobs carry `labels: []`,
`metrics: {}`, `metadata: null`; validating_files -> queued ("Files validated, moving job to queued
state") -> running (one "Step k/N: training loss=..." event per step, with ", validation loss=..."
when a validation file is given) -> succeeded ("Checkpoint created at step N", "New fine-tuned model
created", "The job has successfully completed"). N = ceil(examples / batch_size) x n_epochs; each step
takes `timing.finetune_per_step`, shortened when the whole job would last longer than the timing's cap
(`JobTiming.max_job_seconds`: every event still comes, in order). `docs-strict`: queued -> validating_files -> running -> succeeded
with the older defaults and no step events.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations.emulator._control.controls import EmulatorControls
from kluster_agents.integrations.emulator._model.shapes import object_id
from kluster_agents.integrations.emulator._model.text import estimate_tokens
from kluster_agents.integrations.emulator._server.http_errors import bad_request
from kluster_agents.integrations.emulator._state.file_service import FileService
from kluster_agents.integrations.emulator._state.job_engine import JobEngine
from kluster_agents.integrations.emulator._state.store import Store

JOB_KIND = "fine_tuning.job"
EVENT_KIND = "fine_tuning.job.event"
TERMINAL = ("succeeded", "failed", "cancelled")
# The catalog's fine-tunable models and the base-model name the docs' job objects show for them.
FT_BASE_NAMES = {
    "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo": "meta-llama/Llama-3.1-8B-Instruct",
    "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo": "meta-llama/Llama-3.3-70B-Instruct",
}
DOCS_DEFAULT_HYPERPARAMETERS = {"batch_size": 4, "learning_rate_multiplier": 1, "n_epochs": 3}
OBSERVED_DEFAULT_HYPERPARAMETERS = {"batch_size": 1, "learning_rate_multiplier": 1.0, "n_epochs": 10}


class FineTuneEngine(JobEngine):
    """Creates jobs and moves them along their lifecycle when they are read."""

    kind, label, id_param, terminal = JOB_KIND, "fine-tuning job", "fine_tuning_job_id", TERMINAL

    def __init__(
        self, store: Store, files: FileService, controls: EmulatorControls, on_model: Callable[[str, int], None]
    ) -> None:
        super().__init__(store)
        self.files = files
        self.controls = controls
        self.on_model = on_model

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        training_file, requested = body.get("training_file"), body.get("model")
        if not training_file or not requested:
            raise bad_request(
                "`training_file` and `model` are required.", param="training_file" if not training_file else "model"
            )
        base = get_model(str(requested))
        base_id = base.base_model or base.id
        if base_id not in FT_BASE_NAMES:
            raise bad_request(
                f"Model {requested!r} cannot be fine-tuned; use one of {', '.join(FT_BASE_NAMES)}.",
                param="model",
                code="model_not_fine_tunable",
            )
        for param in ("training_file", "validation_file"):
            if body.get(param) and self.files.get(str(body[param]))["purpose"] != "fine-tune":
                raise bad_request(f"`{param}` must be a file uploaded with purpose 'fine-tune'.", param=param)
        observed = self.controls.mode != "docs-strict"
        defaults = OBSERVED_DEFAULT_HYPERPARAMETERS if observed else DOCS_DEFAULT_HYPERPARAMETERS
        hyper = {**defaults, **(body.get("hyperparameters") or {})}
        started = self.controls.clock.now()
        now = int(started)
        job: dict[str, Any] = {
            "object": "fine_tuning.job",
            "id": object_id(),
            "model": FT_BASE_NAMES[base_id],
            "created_at": now,
            "finished_at": None,
            "fine_tuned_model": None,
            "result_files": [],
            "status": "validating_files" if observed else "queued",
            "training_file": training_file,
            "validation_file": body.get("validation_file"),
            "hyperparameters": hyper,
            "method": {"type": "supervised", "supervised": hyper},
            "trained_tokens": None,
            "integrations": [],
            "error": None,
            "_suffix": body.get("nickname") or body.get("suffix") or "personal",
            "_events": [],
            "_observed": observed,
            "_t0": started,
        }
        if observed:
            job.update(labels=[], metrics={}, metadata=None)
        self._event(job, now, f"Created fine-tuning job: {job['id']}")
        return self.store.put(JOB_KIND, job)

    def events(self, job_id: str) -> list[dict[str, Any]]:
        """The job's events, newest first."""
        return list(reversed(self.get(job_id)["_events"]))

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self._cancellable(job_id)
        now = int(self.controls.clock.now())
        job.update(status="cancelling", _cancelling_at=now)
        self._event(job, now, "Cancellation requested")
        return self._refresh(self.store.put(JOB_KIND, job))

    def _refresh(self, job: dict[str, Any]) -> dict[str, Any]:
        if job["status"] in TERMINAL:
            return job
        now, timing = self.controls.clock.now(), self.controls.timing
        status = job["status"]
        if status == "cancelling":
            if now >= job["_cancelling_at"] + timing.cancelling:
                at = int(job["_cancelling_at"] + timing.cancelling)
                job.update(status="cancelled", finished_at=at)
                self._event(job, at, "Fine-tuning job cancelled")
            return self.store.put(JOB_KIND, job)
        if job.get("_observed"):
            self._refresh_observed(job, now)
        else:
            self._refresh_documented(job, now)
        dirty = job.pop("_dirty", False)
        return self.store.put(JOB_KIND, job) if job["status"] != status or dirty else job

    def schedule(self, job: dict[str, Any]) -> tuple[float, float, float]:
        """(first phase, second phase, seconds per step) of `job` under the current timing: the two
        waiting phases (validating and queued, in the mode's order), then the steps, together within the cap."""
        timing = self.controls.timing
        observed = job.get("_observed")
        first = timing.fit(timing.finetune_validating if observed else timing.finetune_queued)
        second = timing.fit(timing.finetune_queued if observed else timing.finetune_validating, spent=first)
        total = self._total_steps(job)
        return first, second, timing.fit(total * timing.finetune_per_step, spent=first + second) / total

    def _refresh_documented(self, job: dict[str, Any], now: float) -> None:
        queued, validating, per_step = self.schedule(job)
        validating_at = job.get("_t0", job["created_at"]) + queued
        running_at = validating_at + validating
        done_at = running_at + self._total_steps(job) * per_step
        if job["status"] == "queued" and now >= validating_at:
            job["status"] = "validating_files"
            self._event(job, int(validating_at), f"Validating training file: {job['training_file']}")
        if job["status"] == "validating_files" and now >= running_at:
            if self._fail_on_bad_file(job, running_at):
                return
            job["status"] = "running"
            self._event(job, int(running_at), "Fine-tuning job started")
        if job["status"] == "running" and now >= done_at:
            self._succeed(job, int(done_at))

    def _refresh_observed(self, job: dict[str, Any], now: float) -> None:
        validating, queued, per_step = self.schedule(job)
        queued_at = job.get("_t0", job["created_at"]) + validating
        running_at = queued_at + queued
        if job["status"] == "validating_files" and now >= queued_at:
            if self._fail_on_bad_file(job, queued_at):
                return
            job["status"] = "queued"
            self._event(job, int(queued_at), "Files validated, moving job to queued state")
        if job["status"] == "queued" and now >= running_at:
            job["status"] = "running"
            job["_steps_logged"] = 0
            self._event(job, int(running_at), "Fine-tuning job started")
        if job["status"] != "running":
            return
        total = self._total_steps(job)
        due = total if per_step == 0 else min(total, math.floor((now - running_at) / per_step))
        for step in range(job.get("_steps_logged", 0) + 1, due + 1):
            self._event(job, int(running_at + step * per_step), _step_message(step, total, job))
            job["_steps_logged"], job["_dirty"] = step, True
        if due >= total:
            done_at = int(running_at + total * per_step)
            self._event(job, done_at, f"Checkpoint created at step {total}")
            self._succeed(job, done_at)

    def _total_steps(self, job: dict[str, Any]) -> int:
        if "_total_steps" not in job:
            raw = self.files.content(job["training_file"]).decode("utf-8", "replace")
            examples = max(1, sum(1 for line in raw.splitlines() if line.strip()))
            hyper = job["hyperparameters"]
            batch_size = max(1, int(hyper.get("batch_size") or 1))
            job["_total_steps"] = math.ceil(examples / batch_size) * max(1, int(hyper.get("n_epochs") or 1))
        return int(job["_total_steps"])

    def _fail_on_bad_file(self, job: dict[str, Any], at: float) -> bool:
        problem = self._training_problem(job["training_file"])
        if problem:
            job.update(
                status="failed",
                finished_at=int(at),
                error={"code": "invalid_training_file", "message": problem, "param": "training_file"},
            )
            self._event(job, int(at), f"Training file validation failed: {problem}")
        return bool(problem)

    def _succeed(self, job: dict[str, Any], at: int) -> None:
        org, name = job["model"].split("/", 1)
        model = f"ft:{org}:{name}:{job['_suffix']}:{os.urandom(4).hex()}"
        tokens = estimate_tokens(self.files.content(job["training_file"]).decode("utf-8", "replace"))
        job.update(
            status="succeeded",
            finished_at=at,
            fine_tuned_model=model,
            trained_tokens=tokens * int(job["hyperparameters"].get("n_epochs", 1)),
        )
        self.on_model(model, at)
        self._event(job, at, f"New fine-tuned model created: {model}")
        self._event(job, at, "The job has successfully completed")

    def _training_problem(self, file_id: str) -> str | None:
        lines = [line for line in self.files.content(file_id).decode("utf-8", "replace").splitlines() if line.strip()]
        if not lines:
            return "The training file is empty."
        for number, raw in enumerate(lines, 1):
            try:
                example = json.loads(raw)
            except ValueError:
                return f"Line {number} is not valid JSON."
            if not isinstance(example, dict) or not isinstance(example.get("messages"), list):
                return f"Line {number} has no `messages` list."
        return None

    @staticmethod
    def _event(job: dict[str, Any], at: int, message: str) -> None:
        job["_events"].append(
            {
                "id": object_id(),
                "created_at": at,
                "level": "info",
                "message": message,
                "object": EVENT_KIND,
                "data": {},
                "type": "message",
            }
        )


def _step_message(step: int, total: int, job: Mapping[str, Any]) -> str:
    """The observed per-step event text, with a deterministic, decreasing loss curve."""
    progress = step / total
    train = 0.35 + 1.9 * math.exp(-3.0 * progress) + 0.03 * math.sin(step * 1.7)
    message = f"Step {step}/{total}: training loss={train:.4f}"
    if job.get("validation_file"):
        message += f", validation loss={train + 0.08 + 0.1 * progress:.4f}"
    return message
