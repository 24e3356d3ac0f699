"""The Batch API engine: create, progress on the emulated clock, cancel, expire, fail — with
output and error files in the documented line format — and adaptive (`@kluster.ai` async) requests,
which become one-line batches.

Lifecycle (computed whenever a batch is read), as observed on the live service (default modes):
pre_schedule -> in_progress (lines complete one by one, `request_counts` move) -> completed, with
`in_progress_at == created_at`, `finalizing_at == completed_at`, `errors: []`, and output lines
`{"id": <24-hex>, "custom_id", "response": {"status_code", "request_id": <uuid4>, "body"}}` (no
`error` key). `docs-strict` keeps the documented lifecycle instead: validating -> in_progress ->
finalizing -> completed, `errors: null`, lines with `"error": null`. Either way: failed (invalid
JSONL, unknown model, too many lines for the tier), expired (not done by `expires_at`),
cancelling -> cancelled. Phase durations are `controls.timing`. Every line gets the same reply
logic as a real-time request.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from kluster_agents.integrations.api.catalog import ModelInfo
from kluster_agents.integrations.emulator.controls import EmulatorControls
from kluster_agents.integrations.emulator.errors import EmulatorAPIError, bad_request
from kluster_agents.integrations.emulator.fidelity import validate_chat_request
from kluster_agents.integrations.emulator.files import FileService
from kluster_agents.integrations.emulator.jobs import JobEngine
from kluster_agents.integrations.emulator.replies import ReplyEngine
from kluster_agents.integrations.emulator.shapes import async_placeholder, chat_completion, object_id
from kluster_agents.integrations.emulator.store import Store

BATCH_KIND = "batch"
ENDPOINT = "/v1/chat/completions"
WINDOWS = {"1h": 3600, "3h": 3 * 3600, "6h": 6 * 3600, "12h": 12 * 3600, "24h": 24 * 3600}
TERMINAL = ("completed", "failed", "expired", "cancelled")
SCHEDULING = ("pre_schedule", "validating")  # the first status: observed / documented
_TIMESTAMPS = (
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


class BatchEngine(JobEngine):
    """Creates batches and moves them along their lifecycle when they are read."""

    kind, label, id_param, terminal = BATCH_KIND, "batch", "batch_id", TERMINAL

    def __init__(
        self,
        store: Store,
        files: FileService,
        controls: EmulatorControls,
        replies: ReplyEngine,
        lookup: Callable[[str], ModelInfo | None],
    ) -> None:
        super().__init__(store)
        self.files = files
        self.controls = controls
        self.replies = replies
        self.lookup = lookup

    # -- API operations ---------------------------------------------------------------------
    def create(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
    ) -> dict[str, Any]:
        if endpoint != ENDPOINT:
            raise bad_request(f"Only {ENDPOINT} is supported as a batch endpoint.", param="endpoint")
        if completion_window not in WINDOWS:
            raise bad_request(f"`completion_window` must be one of {', '.join(WINDOWS)}.", param="completion_window")
        file = self.files.get(input_file_id)
        if file["purpose"] != "batch":
            raise bad_request(
                f"File {input_file_id} has purpose {file['purpose']!r}, not 'batch'.", param="input_file_id"
            )
        started = self.controls.clock.now()
        now = int(started)
        observed = self.controls.mode != "docs-strict"
        batch: dict[str, Any] = {
            "id": batch_id or object_id(),
            "object": "batch",
            "endpoint": endpoint,
            "errors": [] if observed else None,
            "input_file_id": input_file_id,
            "completion_window": completion_window,
            "status": "pre_schedule" if observed else "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            **dict.fromkeys(_TIMESTAMPS),
            "expires_at": now + WINDOWS[completion_window],
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": dict(metadata or {}),
            "_observed": observed,
            "_t0": started,  # the exact creation time: phases are timed from it, not from the whole second
        }
        return self.store.put(BATCH_KIND, batch)

    def cancel(self, batch_id: str) -> dict[str, Any]:
        batch = self._cancellable(batch_id)
        now = self.controls.clock.now()
        if batch["status"] in SCHEDULING:
            self._validate(batch, now)
        batch.update(status="cancelling", cancelling_at=int(now), _cancel_t=now)
        return self._refresh(self.store.put(BATCH_KIND, batch))

    def submit_adaptive(self, body: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
        """An adaptive-inference request: queue it as a one-line batch; return the documented placeholder."""
        window = str(options.get("completion_window", "24h"))
        if window not in WINDOWS:
            raise bad_request(
                f"`completion_window` must be one of {', '.join(WINDOWS)}.",
                param='metadata["@kluster.ai"].completion_window',
            )
        line = {
            "custom_id": f"adaptive-{uuid.uuid4().hex[:12]}",
            "method": "POST",
            "url": ENDPOINT,
            "body": {k: v for k, v in body.items() if k != "metadata"},
        }
        file = self.files.create(json.dumps(line).encode() + b"\n", "adaptive-request.jsonl", "batch")
        batch = self.create(file["id"], ENDPOINT, window, metadata={"@kluster.ai": dict(options)})
        now = self.controls.clock.now()
        return async_placeholder(body["model"], f"{batch['id']}_{int(now * 1000)}", int(now))

    # -- lifecycle ---------------------------------------------------------------------------
    def _refresh(self, batch: dict[str, Any]) -> dict[str, Any]:
        if batch["status"] in TERMINAL:
            return batch
        now = self.controls.clock.now()
        timing = self.controls.timing
        before = json.dumps(batch, sort_keys=True)
        t0 = batch.get("_t0", batch["created_at"])
        if batch["status"] in SCHEDULING and now >= t0 + timing.batch_scheduling:
            self._validate(batch, t0 + timing.batch_scheduling)
        if batch["status"] in ("in_progress", "cancelling"):
            self._progress(batch, now)
        if batch["status"] == "finalizing" and now >= batch["finalizing_at"] + timing.batch_finalizing:
            self._finish(batch, "completed", int(batch["finalizing_at"] + timing.batch_finalizing))
        if json.dumps(batch, sort_keys=True) != before:
            self.store.put(BATCH_KIND, batch)
        return batch

    def _validate(self, batch: dict[str, Any], at: float) -> None:
        lines, errors = self._parse_input(batch["input_file_id"])
        if errors:  # no observed failure shape: the documented errors object
            batch.update(status="failed", failed_at=int(at), errors={"object": "list", "data": errors})
            return
        observed = batch.get("_observed", False)
        batch["_results"] = [self._run_line(line, observed) for line in lines]
        batch["request_counts"]["total"] = len(lines)
        # Lines start running at `at`; the observed service reports `in_progress_at == created_at`.
        batch.update(status="in_progress", _started_at=at, in_progress_at=batch["created_at"] if observed else int(at))

    def _parse_input(self, file_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        lines: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for number, raw in enumerate(self.files.content(file_id).decode("utf-8", "replace").splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if not isinstance(line, dict) or not isinstance(line.get("body"), dict) or "custom_id" not in line:
                errors.append(
                    _line_error(
                        "invalid_json_line",
                        "Each line must be a JSON object with custom_id, method, url and body.",
                        number,
                    )
                )
            elif line.get("url") != ENDPOINT or str(line.get("method", "POST")).upper() != "POST":
                errors.append(_line_error("invalid_url", f"Each line must be a POST to {ENDPOINT}.", number))
            else:
                lines.append(line)
        if errors:
            return [], errors
        limits = [self._limits(line) for line in lines]
        max_lines = min((m for m in limits if m is not None), default=None)
        if max_lines is not None and len(lines) > max_lines:
            return [], [
                _line_error(
                    "too_many_requests",
                    f"The file has {len(lines)} requests; the "
                    f"{self.controls.tier.value} tier allows at most {max_lines} per batch.",
                    None,
                )
            ]
        if lines and all(self.lookup(str(line["body"].get("model"))) is None for line in lines):
            return [], [_line_error("model_not_found", f"Unknown model {lines[0]['body'].get('model')!r}.", 1)]
        return lines, []

    def _limits(self, line: Mapping[str, Any]) -> int | None:
        info = self.lookup(str(line["body"].get("model")))
        limits = info.limits_for(self.controls.tier) if info else None
        return limits.max_batch_requests if limits else None

    def _run_line(self, line: Mapping[str, Any], observed: bool) -> dict[str, Any]:
        """The output line of one request: the same validation and reply as the real-time endpoint."""
        body = line["body"]
        request_id = str(uuid.uuid4()) if observed else f"req-{uuid.uuid4().hex}"
        try:
            info = validate_chat_request(body, mode=self.controls.mode, tier=self.controls.tier, lookup=self.lookup)
        except EmulatorAPIError as exc:
            response = {"status_code": exc.status_code, "request_id": request_id, "body": exc.payload()}
        else:
            reply = self.replies.reply(body, info)
            completion = chat_completion(body["model"], body["messages"], reply, int(self.controls.clock.now()))
            response = {"status_code": 200, "request_id": request_id, "body": completion}
        if observed:  # no `error` key on observed output lines
            return {"id": object_id(), "custom_id": line["custom_id"], "response": response}
        return {
            "id": f"batch-req-{uuid.uuid4().hex}",
            "custom_id": line["custom_id"],
            "response": response,
            "error": None,
        }

    def _progress(self, batch: dict[str, Any], now: float) -> None:
        timing = self.controls.timing
        start, results = batch.get("_started_at", batch["in_progress_at"]), batch["_results"]
        per_line = max(timing.batch_per_line, 1e-9)
        cancel_t = batch.get("_cancel_t", batch["cancelling_at"])
        stop = cancel_t if batch["status"] == "cancelling" else min(now, batch["expires_at"])
        done = min(len(results), math.floor((stop - start) / per_line)) if stop >= start else 0
        succeeded = sum(1 for r in results[:done] if r["response"]["status_code"] == 200)
        batch["request_counts"].update(completed=succeeded, failed=done - succeeded)
        if batch["status"] == "cancelling":
            if now >= cancel_t + timing.cancelling:
                self._finish(batch, "cancelled", int(cancel_t + timing.cancelling), done)
            return
        finished_at = start + len(results) * per_line
        if finished_at > batch["expires_at"] and now >= batch["expires_at"]:
            self._finish(batch, "expired", int(batch["expires_at"]), done)
        elif now >= finished_at and batch.get("_observed"):  # never seen `finalizing` on the live service
            self._finish(batch, "completed", int(finished_at))
            batch["finalizing_at"] = batch["completed_at"]
        elif now >= finished_at:
            batch.update(status="finalizing", finalizing_at=int(finished_at))

    def _finish(self, batch: dict[str, Any], status: str, at: int, done: int | None = None) -> None:
        """Write the output and error files and enter a terminal status."""
        results = batch.pop("_results", [])
        done = len(results) if done is None else done
        ok = [r for r in results[:done] if r["response"]["status_code"] == 200]
        failed = [r for r in results[:done] if r["response"]["status_code"] != 200]
        code = {"expired": "batch_expired", "cancelled": "batch_cancelled"}.get(status)
        failed += (
            [
                {
                    "id": r["id"],
                    "custom_id": r["custom_id"],
                    "response": None,
                    "error": {"code": code, "message": f"The request was not processed: the batch was {status}."},
                }
                for r in results[done:]
            ]
            if code
            else []
        )
        output = [json.dumps(r) for r in ok]
        output[1:1] = ['{"id": "batch-req-corrupt", "custom_id": '] * self.controls.faults.take_malformed_lines()
        if output:
            batch["output_file_id"] = self.files.create(_jsonl(output), f"{batch['id']}_output.jsonl", "batch_output")[
                "id"
            ]
        if failed:
            batch["error_file_id"] = self.files.create(
                _jsonl(json.dumps(r) for r in failed), f"{batch['id']}_error.jsonl", "batch_output"
            )["id"]
        batch.update({"status": status, f"{status}_at": at})


def _line_error(code: str, message: str, line: int | None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": None, "line": line}


def _jsonl(lines: Any) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()
