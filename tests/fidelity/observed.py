"""Observed behaviour of the live kluster.ai service, as data: each fact, its payload, its public source.

Source of every fact: the saved outputs of the vendor's executed notebooks in the public repository
kluster-ai/klusterai-cookbook (2024-12 to 2025-08). `notebooks` names the cookbook files the fact
was read from where they are known; `dates` is the capture period.
Observed facts outrank the docs where they disagree (shared/kluster-docs/README.md). When a fact
changes, this file changes; tests/fidelity/test_observed.py checks the emulator and every client
layer against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COOKBOOK = "kluster-ai/klusterai-cookbook"


@dataclass(frozen=True)
class Fact:
    key: str
    summary: str
    dates: str
    notebooks: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        where = ", ".join(self.notebooks) or "executed notebooks"
        return f"{COOKBOOK}: {where} ({self.dates})"


FACTS: dict[str, Fact] = {
    f.key: f
    for f in (
        Fact(
            "empty_body_cancel",
            "POST with Content-Type: application/json and a 0-byte body (the openai SDK's batches.cancel, "
            "fine_tuning.jobs.cancel, uploads.cancel) answers HTTP 500 with a non-OpenAI body.",
            "2024-12..2025-07",
            data={
                "status": 500,
                "body": {
                    "message": "Unknown error occurred: Body cannot be empty when content-type is set to "
                    "'application/json'",
                    "errorCode": -1,
                },
            },
        ),
        Fact(
            "batch_lifecycle",
            "batches.create returns status pre_schedule; then in_progress (request_counts.total set) and "
            "completed; validating/finalizing never appear; in_progress_at == created_at, "
            "finalizing_at == completed_at.",
            "2024-12..2025-07 (7 captures)",
            ("get-started-all-in-one-batch-api.ipynb", "examples/uploads-api.ipynb"),
            data={
                "first_status": "pre_schedule",
                "sequence": ["pre_schedule", "in_progress", "completed"],
                "never": ["validating", "finalizing"],
            },
        ),
        Fact(
            "batch_errors_list",
            "The batch `errors` field is [] in every create, retrieve and list (not the documented object).",
            "2024-12..2025-07",
            data={"errors": []},
        ),
        Fact(
            "batch_output_line",
            "Output lines have no `error` key; `id` is 24-hex and `response.request_id` a uuid4.",
            "2024-12..2025-07",
            data={
                "keys": ["custom_id", "id", "response"],
                "response_keys": ["body", "request_id", "status_code"],
                "id_pattern": r"[0-9a-f]{24}",
                "request_id_pattern": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
            },
        ),
        Fact(
            "batch_takes_time",
            "A 2-request batch took 31 s and 50 s; a 5-request job ~60 s: clients must poll.",
            "2024-12..2025-07",
            data={"two_request_seconds": [31, 50], "five_request_seconds": 60},
        ),
        Fact(
            "verify_chat_500",
            "klusterai/verify-reliability via chat completions with [system, user, assistant] (the docs' example "
            "shape) answered HTTP 500, twice.",
            "2025-08",
            ("examples/reliability-check.ipynb",),
            data={
                "roles": ["system", "user", "assistant"],
                "status": 500,
                "body": {
                    "error": {
                        "message": "Unexpected error occurred",
                        "errorCode": 4000,
                        "type": "invalid_request_error",
                    }
                },
            },
        ),
        Fact(
            "json_mode_in_batch",
            "response_format {'type': 'json_object'} was accepted in batch inputs (200 completions), although "
            "the compatibility page lists response_format as unsupported.",
            "2024-12..2025-07 (two notebooks)",
            data={"response_format": {"type": "json_object"}},
        ),
        Fact(
            "server_filename",
            "An uploaded file's filename is server-generated: <24-hex org id>/<uuid>-<uuid>.",
            "2024-12..2025-07",
            ("examples/uploads-api.ipynb",),
            data={"filename_pattern": r"[0-9a-f]{24}/[0-9a-f-]{36}-[0-9a-f-]{36}"},
        ),
        Fact(
            "finetune",
            "Fine-tuning defaults with no hyperparameters, job fields, and events (one per step with loss).",
            "2025",
            ("examples/finetuning-sent-analysis.ipynb",),
            data={
                "hyperparameters": {"batch_size": 1, "learning_rate_multiplier": 1.0, "n_epochs": 10},
                "fields": {"labels": [], "metrics": {}, "metadata": None},
                "events": [
                    "Files validated, moving job to queued state",
                    r"Step \d+/\d+: training loss=[0-9.]+",
                    r"Checkpoint created at step \d+",
                    "New fine-tuned model created",
                    "The job has successfully completed",
                ],
            },
        ),
        Fact(
            "ids_and_models",
            "Each model has its own `created`; upload ids are bare 24-hex; completions ids may be "
            "chatcmpl-<uuid4> with stop_reason 128008 on tool calls. Nothing may depend on an id format.",
            "2024-12..2025-08",
            ("examples/uploads-api.ipynb", "examples/integrating-tools.ipynb"),
            data={
                "upload_id_pattern": r"[0-9a-f]{24}",
                "completion": {
                    "id": "chatcmpl-3f1e2d4c-5b6a-4f7e-8d9c-0a1b2c3d4e5f",
                    "object": "chat.completion",
                    "created": 1735000000,
                    "model": "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo",
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": None,
                                "tool_calls": [
                                    {
                                        "id": "chatcmpl-tool-1",
                                        "type": "function",
                                        "function": {"name": "multiply", "arguments": '{"a": 1337, "b": 42}'},
                                    }
                                ],
                            },
                            "finish_reason": "tool_calls",
                            "stop_reason": 128008,
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                },
            },
        ),
    )
}
