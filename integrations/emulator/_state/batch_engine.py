"""The Batch API engine: create, progress on the emulated clock, cancel, expire, fail — with
output and error files in the documented line format — and adaptive (`@kluster.ai` async) requests,
which become one-line batches.

Lifecycle (computed whenever a batch is read), as observed on the live service (default modes):
pre_schedule -> in_progress (lines run in parallel, `batch_parallel_lines` at a time, and
`request_counts` move; observed: 5 requests ~60 s against 31-50 s for 2) -> completed, with
`in_progress_at == created_at`, `finalizing_at == completed_at`, `errors: []`, and output lines
`{"id": <24-hex>, "custom_id", "response": {"status_code", "request_id": <uuid4>, "body"}}` (no
`error` key). `docs-strict` keeps the documented lifecycle instead: validating -> in_progress ->
finalizing -> completed, `errors: null`, lines with `"error": null`. Either way: failed (invalid
JSONL, unknown model, too many lines for the tier), expired (not done by `expires_at`),
cancelling -> cancelled. Phase durations are `controls.timing`, the running phase shortened when the
job would last longer than the timing's cap (`JobTiming.max_job_seconds`). Every line gets the same reply
logic as a real-time request. Memory stays flat whatever the job size: the input is read in blocks,
answered lines go to a spool file on disk as they complete, and output/error files are written and
served from it in blocks (a 100,000-line job keeps only counters in its stored document).
"""

from __future__ import annotations

import bisect
import builtins
import json
import math
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kluster_agents.integrations._api.catalog import ModelInfo
from kluster_agents.integrations.emulator._control.controls import EmulatorControls
from kluster_agents.integrations.emulator._model.replies import ReplyEngine
from kluster_agents.integrations.emulator._model.shapes import async_placeholder, chat_completion, object_id
from kluster_agents.integrations.emulator._routes.fidelity import validate_chat_request
from kluster_agents.integrations.emulator._server.http_errors import EmulatorAPIError, bad_request
from kluster_agents.integrations.emulator._state.file_service import FileService
from kluster_agents.integrations.emulator._state.job_engine import JobEngine
from kluster_agents.integrations.emulator._state.store import Store

BATCH_KIND = "batch"
ENDPOINT = "/v1/chat/completions"
WINDOWS = {"1h": 3600, "3h": 3 * 3600, "6h": 6 * 3600, "12h": 12 * 3600, "24h": 24 * 3600}
TERMINAL = ("completed", "failed", "expired", "cancelled")
SCHEDULING = ("pre_schedule", "validating")  # the first status: observed / documented
# A batch's lifecycle timestamps after `created_at`, in the order they can happen (the inspector's timeline).
LIFECYCLE_TIMESTAMPS = (
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)
_TIMESTAMPS = (LIFECYCLE_TIMESTAMPS[0], "expires_at", *LIFECYCLE_TIMESTAMPS[1:])  # null until set, in this order


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
        # Reading a batch may answer its lines into its spool file: one reader at a time.
        self._lock = threading.RLock()
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
        with self._lock:
            return self._cancel(batch_id)

    def _cancel(self, batch_id: str) -> dict[str, Any]:
        batch = self._cancellable(batch_id)
        now = self.controls.clock.now()
        if batch["status"] in SCHEDULING:
            self._validate(batch, now)
            if batch["status"] == "failed":  # an invalid input fails now, not at the end of scheduling
                self.store.put(BATCH_KIND, batch)
                self._cancellable(batch_id)  # raises: a failed job cannot be cancelled
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

    def get(self, ident: str) -> dict[str, Any]:
        with self._lock:
            return super().get(ident)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return super().list()

    # -- lifecycle ---------------------------------------------------------------------------
    def _refresh(self, batch: dict[str, Any]) -> dict[str, Any]:
        if batch["status"] in TERMINAL:
            return batch
        now = self.controls.clock.now()
        timing = self.controls.timing
        before = json.dumps(batch, sort_keys=True)
        t0 = batch.get("_t0", batch["created_at"])
        scheduling = timing.fit(timing.batch_scheduling)
        if batch["status"] in SCHEDULING and now >= t0 + scheduling:
            self._validate(batch, t0 + scheduling)
        if batch["status"] in ("in_progress", "cancelling"):
            self._progress(batch, now)
        finalizing = self._finalizing(batch)
        if batch["status"] == "finalizing" and now >= batch["finalizing_at"] + finalizing:
            self._finish(batch, "completed", int(batch["finalizing_at"] + finalizing))
        if json.dumps(batch, sort_keys=True) != before:
            self.store.put(BATCH_KIND, batch)
        return batch

    def _validate(self, batch: dict[str, Any], at: float) -> None:
        total, errors = self._scan_input(batch["input_file_id"])
        if errors:  # no observed failure shape: the documented errors object
            batch.update(status="failed", failed_at=int(at), errors={"object": "list", "data": errors})
            return
        batch["request_counts"]["total"] = total
        # Lines start running at `at`; the observed service reports `in_progress_at == created_at`.
        # They are answered as they complete (`_run_lines`) into a spool file on disk: `_ran` lines so
        # far, read up to byte `_offset` of the input; `_failed` lists the ones that got no 200.
        batch.update(_ran=0, _offset=0, _failed=[])
        batch.update(
            status="in_progress",
            _started_at=at,
            in_progress_at=batch["created_at"] if batch.get("_observed") else int(at),
        )

    def _scan_input(self, file_id: str) -> tuple[int, builtins.list[dict[str, Any]]]:
        """Validate the input file line by line without keeping it: (number of requests, errors)."""
        count, known_any = 0, False
        errors: builtins.list[dict[str, Any]] = []
        first_model: Any = None
        max_lines: int | None = None
        models: dict[str, ModelInfo | None] = {}  # one catalog lookup per model, not per line
        for number, raw in enumerate(self.files.iter_lines(file_id), 1):
            line = _parse_line(raw)
            if line is _BLANK:
                continue
            if not isinstance(line, dict) or not isinstance(line.get("body"), dict) or "custom_id" not in line:
                errors.append(
                    _line_error(
                        "invalid_json_line",
                        "Each line must be a JSON object with custom_id, method, url and body.",
                        number,
                    )
                )
                continue
            if line.get("url") != ENDPOINT or str(line.get("method", "POST")).upper() != "POST":
                errors.append(_line_error("invalid_url", f"Each line must be a POST to {ENDPOINT}.", number))
                continue
            count += 1
            model = str(line["body"].get("model"))
            if count == 1:
                first_model = line["body"].get("model")
            if model not in models:
                models[model] = info = self.lookup(model)
                limits = info.limits_for(self.controls.tier) if info else None
                if limits and limits.max_batch_requests is not None:
                    max_lines = min(max_lines or limits.max_batch_requests, limits.max_batch_requests)
            known_any = known_any or models[model] is not None
        if errors:
            return 0, errors
        if max_lines is not None and count > max_lines:
            return 0, [
                _line_error(
                    "too_many_requests",
                    f"The file has {count} requests; the "
                    f"{self.controls.tier.value} tier allows at most {max_lines} per batch.",
                    None,
                )
            ]
        if count and not known_any:
            return 0, [_line_error("model_not_found", f"Unknown model {first_model!r}.", 1)]
        return count, []

    def _spool(self, batch: Mapping[str, Any]) -> Path:
        return self.store.spool_dir / f"{batch['id']}.jsonl"

    def _input_lines(self, batch: dict[str, Any], limit: int | None) -> Iterator[dict[str, Any]]:
        """The next request lines of the input (from `_offset`, moved past each line yielded)."""
        if limit == 0:
            return
        taken = 0
        for raw in self.files.iter_lines(batch["input_file_id"], start=batch["_offset"]):
            batch["_offset"] += len(raw)
            line = _parse_line(raw)
            if line is _BLANK:
                continue
            yield line
            taken += 1
            if taken == limit:
                return

    def _run_lines(self, batch: dict[str, Any], upto: int) -> None:
        """Answer the lines completed by now (`upto` of them) that are not answered yet, into the spool."""
        if upto <= batch["_ran"]:
            return
        observed = batch.get("_observed", False)
        with self._spool(batch).open("a", encoding="utf-8") as spool:
            for line in self._input_lines(batch, upto - batch["_ran"]):
                result = self._run_line(line, observed)
                if result["response"]["status_code"] != 200:
                    batch["_failed"].append(batch["_ran"])
                spool.write(json.dumps(result) + "\n")
                batch["_ran"] += 1

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
        return {"id": _line_id(observed), "custom_id": line["custom_id"], "response": response, **_error_key(observed)}

    def _finalizing(self, batch: Mapping[str, Any]) -> float:
        """The `finalizing` phase (docs-strict only), within the cap after scheduling."""
        timing = self.controls.timing
        return timing.fit(timing.batch_finalizing, spent=timing.fit(timing.batch_scheduling))

    def _waves(self, batch: Mapping[str, Any]) -> tuple[int, float]:
        """(waves of lines, seconds per wave): a job runs `batch_parallel_lines` lines at once, each wave
        taking `batch_per_line` (the service works through a batch's lines in parallel, not one by one),
        all of them together shortened to fit the cap beside scheduling (and finalizing)."""
        timing = self.controls.timing
        waves = math.ceil(batch["request_counts"]["total"] / max(1, timing.batch_parallel_lines))
        if not waves:
            return 0, 0.0
        spent = timing.fit(timing.batch_scheduling) + (0.0 if batch.get("_observed") else self._finalizing(batch))
        return waves, timing.fit(waves * timing.batch_per_line, spent=spent) / waves

    def _completed_by(self, batch: Mapping[str, Any], at: float) -> int:
        """Lines done by time `at`."""
        timing = self.controls.timing
        total: int = batch["request_counts"]["total"]
        start: float = batch.get("_started_at", batch["in_progress_at"])
        if at < start:
            return 0
        per_wave = self._waves(batch)[1]
        if per_wave <= 0:
            return total
        done = math.floor((at - start) / per_wave + 1e-9)
        return min(total, done * max(1, timing.batch_parallel_lines))

    def _finished_at(self, batch: Mapping[str, Any]) -> float:
        waves, per_wave = self._waves(batch)
        start: float = batch.get("_started_at", batch["in_progress_at"])
        return start + waves * per_wave

    def _progress(self, batch: dict[str, Any], now: float) -> None:
        timing = self.controls.timing
        cancel_t = batch.get("_cancel_t", batch["cancelling_at"])
        stop = cancel_t if batch["status"] == "cancelling" else min(now, batch["expires_at"])
        done = self._completed_by(batch, stop)
        self._run_lines(batch, done)
        failed = bisect.bisect_left(batch["_failed"], done)
        batch["request_counts"].update(completed=done - failed, failed=failed)
        if batch["status"] == "cancelling":
            if now >= cancel_t + timing.cancelling:
                self._finish(batch, "cancelled", int(cancel_t + timing.cancelling), done)
            return
        finished_at = self._finished_at(batch)
        if finished_at > batch["expires_at"] and now >= batch["expires_at"]:
            self._finish(batch, "expired", int(batch["expires_at"]), done)
        elif now >= finished_at and batch.get("_observed"):  # never seen `finalizing` on the live service
            self._finish(batch, "completed", int(finished_at))
            batch["finalizing_at"] = batch["completed_at"]
        elif now >= finished_at:
            batch.update(status="finalizing", finalizing_at=int(finished_at))

    def _finish(self, batch: dict[str, Any], status: str, at: int, done: int | None = None) -> None:
        """Write the output and error files (streamed from the spool, never all in memory) and enter
        a terminal status."""
        total = batch["request_counts"]["total"]
        done = total if done is None else done
        self._run_lines(batch, done)
        spool, observed = self._spool(batch), batch.get("_observed", False)
        out_path, err_path = spool.with_suffix(".out"), spool.with_suffix(".err")
        code = {"expired": "batch_expired", "cancelled": "batch_cancelled"}.get(status)
        corrupt = self.controls.faults.take_malformed_lines()
        outputs = errors = 0
        with out_path.open("w", encoding="utf-8") as out, err_path.open("w", encoding="utf-8") as err:
            if spool.exists():
                failed = set(batch["_failed"])
                with spool.open(encoding="utf-8") as lines:
                    for number, raw in enumerate(lines):
                        if number not in failed:
                            out.write(raw)
                            outputs += 1
                            if outputs == 1:
                                out.write('{"id": "batch-req-corrupt", "custom_id": \n' * corrupt)
                        else:
                            err.write(raw)
                            errors += 1
            if outputs == 0 and corrupt:
                out.write('{"id": "batch-req-corrupt", "custom_id": \n' * corrupt)
                outputs += corrupt
            if code:  # the lines that never ran
                message = f"The request was not processed: the batch was {status}."
                for line in self._input_lines(batch, None):
                    error = {"code": code, "message": message}
                    err.write(
                        json.dumps(
                            {
                                "id": _line_id(observed),
                                "custom_id": line.get("custom_id"),
                                "response": None,
                                "error": error,
                            }
                        )
                        + "\n"
                    )
                    errors += 1
        if outputs:
            name = f"{batch['id']}_output.jsonl"
            batch["output_file_id"] = self.files.create_from_path(out_path, name, "batch_output")["id"]
        if errors:
            name = f"{batch['id']}_error.jsonl"
            batch["error_file_id"] = self.files.create_from_path(err_path, name, "batch_output")["id"]
        for path in (spool, out_path, err_path):
            path.unlink(missing_ok=True)
        for key in ("_ran", "_offset", "_failed"):
            batch.pop(key, None)
        batch.update({"status": status, f"{status}_at": at})


_BLANK: Any = object()


def _parse_line(raw: bytes) -> Any:
    """One input line as JSON (None when it is not valid JSON, `_BLANK` when it is empty)."""
    if not raw.strip():
        return _BLANK
    try:
        return json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None


def _line_id(observed: bool) -> str:
    return object_id() if observed else f"batch-req-{uuid.uuid4().hex}"


def _error_key(observed: bool) -> dict[str, Any]:
    return {} if observed else {"error": None}  # no `error` key on observed output lines


def _line_error(code: str, message: str, line: int | None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": None, "line": line}


def _jsonl(lines: Any) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()
