"""Fine-tuning jobs on the emulated clock: queued -> validating_files -> running -> succeeded
(or failed on a bad training file, or cancelling -> cancelled), with events, producing a model
named like the docs' `ft:meta-llama:Llama-3.1-8B-Instruct:personal:805b5d69` that then works in
chat completions and appears in /v1/models."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from kluster_agents.integrations.api.catalog import get_model
from kluster_agents.integrations.emulator.controls import EmulatorControls
from kluster_agents.integrations.emulator.errors import bad_request
from kluster_agents.integrations.emulator.files import FileService
from kluster_agents.integrations.emulator.finetune_steps import training_step_events
from kluster_agents.integrations.emulator.jobs import JobEngine
from kluster_agents.integrations.emulator.shapes import object_id
from kluster_agents.integrations.emulator.store import Store
from kluster_agents.integrations.emulator.text import estimate_tokens

JOB_KIND = "fine_tuning.job"
EVENT_KIND = "fine_tuning.job.event"
TERMINAL = ("succeeded", "failed", "cancelled")
# The catalog's fine-tunable models and the base-model name the docs' job objects show for them.
FT_BASE_NAMES = {
    "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo": "meta-llama/Llama-3.1-8B-Instruct",
    "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo": "meta-llama/Llama-3.3-70B-Instruct",
}
DEFAULT_HYPERPARAMETERS = {"batch_size": 4, "learning_rate_multiplier": 1, "n_epochs": 3}


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
        hyper = {**DEFAULT_HYPERPARAMETERS, **(body.get("hyperparameters") or {})}
        now = int(self.controls.clock.now())
        job = {
            "object": "fine_tuning.job",
            "id": object_id(),
            "model": FT_BASE_NAMES[base_id],
            "created_at": now,
            "finished_at": None,
            "fine_tuned_model": None,
            "result_files": [],
            "status": "queued",
            "training_file": training_file,
            "validation_file": body.get("validation_file"),
            "hyperparameters": hyper,
            "method": {"type": "supervised", "supervised": hyper},
            "trained_tokens": None,
            "integrations": [],
            "error": None,
            "_suffix": body.get("nickname") or body.get("suffix") or "personal",
            "_events": [],
        }
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
        validating_at = job["created_at"] + timing.finetune_queued
        running_at = validating_at + timing.finetune_validating
        done_at = running_at + timing.finetune_running
        if status == "queued" and now >= validating_at:
            job["status"] = "validating_files"
            self._event(job, int(validating_at), f"Validating training file: {job['training_file']}")
        if job["status"] == "validating_files" and now >= running_at:
            problem = self._training_problem(job["training_file"])
            if problem:
                job.update(
                    status="failed",
                    finished_at=int(running_at),
                    error={"code": "invalid_training_file", "message": problem, "param": "training_file"},
                )
                self._event(job, int(running_at), f"Training file validation failed: {problem}")
                return self.store.put(JOB_KIND, job)
            job["status"] = "running"
            self._event(job, int(running_at), "Fine-tuning job started")
        if job["status"] == "running" and now >= done_at:
            self._succeed(job, int(done_at))
        return self.store.put(JOB_KIND, job) if job["status"] != status else job

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
        for step_at, message in training_step_events(  # inspector hook: the step events' loss curve
            len(self.files.content(job["training_file"]).splitlines()),
            job["hyperparameters"],
            at - self.controls.timing.finetune_running,
            at,
        ):
            self._event(job, step_at, message)
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
