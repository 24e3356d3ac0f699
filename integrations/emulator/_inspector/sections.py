"""The inspector's section fragments besides requests: batch jobs line by line, Verify checks with
their verdicts, fine-tuning jobs with a loss curve, armed faults and the cassette in use."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from html import escape
from typing import Any

from kluster_agents.integrations._api.catalog import VERIFY_MODEL
from kluster_agents.integrations.emulator._inspector.fault_controls import faults_html
from kluster_agents.integrations.emulator._inspector.markup import Redactor, pre, table, when
from kluster_agents.integrations.emulator._inspector.request_view import logged, response_of
from kluster_agents.integrations.emulator._server.runtime import EmulatorRuntime
from kluster_agents.integrations.emulator._state.batch_engine import LIFECYCLE_TIMESTAMPS

VERIFY_PATHS = ("/v1/verify/reliability",)
_STEP = re.compile(r"Step (\d+)/(\d+): training loss=([0-9.eE+-]+)")
_BATCH_TIMELINE = ("created_at", *LIFECYCLE_TIMESTAMPS)


def _jsonl(runtime: EmulatorRuntime, file_id: str | None) -> list[Any]:
    if not file_id:
        return []
    lines = []
    for raw in runtime.files.content(file_id).decode("utf-8", "replace").splitlines():
        if raw.strip():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"custom_id": None, "malformed": raw})
    return lines


def _line_text(line: Mapping[str, Any] | None) -> tuple[str, bool]:
    """The output (or error) of one batch result line, and whether it is an error."""
    if line is None:
        return "", False
    if "malformed" in line:
        return f"malformed line: {line['malformed']}", True
    response = line.get("response") or {}
    if line.get("error") or response.get("status_code", 200) != 200:
        return json.dumps(line.get("error") or response.get("body")), True
    choices = (response.get("body") or {}).get("choices") or [{}]
    message = choices[0].get("message") or {}
    calls = message.get("tool_calls") or []
    text = message.get("content") or "; ".join(
        f"{(c.get('function') or {}).get('name')}({(c.get('function') or {}).get('arguments')})" for c in calls
    )
    return str(text), False


def _input_text(line: Mapping[str, Any]) -> str:
    messages = (line.get("body") or {}).get("messages") or []
    last = messages[-1] if messages else {}
    content = last.get("content") if isinstance(last, Mapping) else last
    return content if isinstance(content, str) else json.dumps(content)


def batches_html(runtime: EmulatorRuntime) -> str:
    redact = Redactor(runtime)
    jobs = runtime.batches.list()
    if not jobs:
        return "<p class='muted'>No batch jobs yet.</p>"
    out = []
    for job in jobs:
        counts = job.get("request_counts") or {}
        total, done, failed = counts.get("total", 0), counts.get("completed", 0), counts.get("failed", 0)
        timeline = "".join(
            f"<li><b>{escape(k.removesuffix('_at'))}</b> {when(job.get(k))}</li>" for k in _BATCH_TIMELINE if job.get(k)
        )
        inputs = _jsonl(runtime, job.get("input_file_id"))
        results = {
            str(line.get("custom_id")): line
            for line in _jsonl(runtime, job.get("output_file_id")) + _jsonl(runtime, job.get("error_file_id"))
        }
        malformed = [line for line in results.values() if "malformed" in line]
        rows = []
        for line in inputs:
            cid = str(line.get("custom_id"))
            text, is_error = _line_text(results.get(cid))
            rows.append(
                f"<tr class='{'error' if is_error else ''}'><td><code>{escape(cid)}</code></td>"
                f"<td>{escape(redact(_input_text(line))[:300])}</td><td>{escape(redact(text)[:300])}</td></tr>"
            )
        rows += [
            f"<tr class='error'><td>—</td><td></td><td>{escape(_line_text(m)[0][:300])}</td></tr>" for m in malformed
        ]
        ok_pct, bad_pct = (100 * done / total, 100 * failed / total) if total else (0.0, 0.0)
        out.append(
            f"<article class='job' data-batch='{escape(job['id'])}'><h3>{escape(job['id'])} "
            f"<span class='badge status-{escape(job['status'])}'>{escape(job['status'])}</span></h3>"
            f"<div class='progress' role='progressbar' aria-valuemin='0' aria-valuemax='{total}' "
            f"aria-valuenow='{done + failed}' aria-label='batch progress'>"
            f"<span class='ok' style='width:{ok_pct:.1f}%'></span><span class='bad' style='width:{bad_pct:.1f}%'>"
            f"</span></div><p class='counts'>{done} completed · {failed} failed · {total} total</p>"
            f"<ol class='timeline'>{timeline}</ol>"
            + table(("custom_id", "input (last message)", "output"), rows, "lines")
            + "</article>"
        )
    return "".join(out)


def verify_html(runtime: EmulatorRuntime) -> str:
    redact = Redactor(runtime)
    out = []
    for record in reversed(logged(runtime)):
        body = record.body if isinstance(record.body, Mapping) else {}
        response = response_of(record)
        if record.path in VERIFY_PATHS:
            prompt, output, context = body.get("prompt"), body.get("output"), body.get("context")
            result = response if isinstance(response, Mapping) else {}
        elif body.get("model") == VERIFY_MODEL:
            messages = body.get("messages") or []
            texts = [str(m.get("content")) for m in messages if isinstance(m, Mapping)]
            prompt, output, context = (texts[-2] if len(texts) > 1 else ""), (texts[-1] if texts else ""), None
            choices = response.get("choices") if isinstance(response, Mapping) else None
            try:
                result = json.loads(choices[0]["message"]["content"]) if choices else {}
            except (ValueError, KeyError, TypeError):
                result = {}
        else:
            continue
        flagged = result.get("is_hallucination") if isinstance(result, Mapping) else None
        verdict = (
            "hallucination"
            if flagged is True
            else "reliable"
            if flagged is False
            else f"no verdict (HTTP {record.status})"
        )
        out.append(
            f"<article class='check'><h3>#{record.extra['id']} <span class='badge verdict-{escape(str(flagged).lower())}'>"
            f"{escape(verdict)}</span></h3>"
            f"<p><b>Prompt</b></p>{pre(prompt or '', redact)}<p><b>Output</b></p>{pre(output or '', redact)}"
            f"<details><summary>Context</summary>{pre(context or '(none)', redact)}</details>"
            f"<p><b>Explanation</b></p><p class='explanation'>{escape(redact(str(result.get('explanation', ''))))}</p>"
            "</article>"
        )
    return "".join(out) or "<p class='muted'>No Verify checks yet.</p>"


def loss_curve_svg(points: list[tuple[int, float]], total: int, width: int = 560, height: int = 180) -> str:
    """An inline SVG line chart of training loss by step."""
    if not points:
        return "<p class='muted'>No training-step events yet.</p>"
    pad, top = 40, max(loss for _, loss in points) * 1.05 or 1.0

    def x(step: int) -> float:
        return pad + (width - pad - 10) * step / max(total, 1)

    def y(loss: float) -> float:
        return 10 + (height - pad - 10) * (1 - loss / top)

    line = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
    return (
        f"<svg class='loss' role='img' viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
        f"aria-label='training loss over {total} steps, from {points[0][1]:.3f} to {points[-1][1]:.3f}'>"
        f"<line x1='{pad}' y1='{height - pad}' x2='{width - 10}' y2='{height - pad}' class='axis'/>"
        f"<line x1='{pad}' y1='10' x2='{pad}' y2='{height - pad}' class='axis'/>"
        f"<text x='{pad - 4}' y='16' text-anchor='end'>{top:.2f}</text>"
        f"<text x='{pad - 4}' y='{height - pad}' text-anchor='end'>0</text>"
        f"<text x='{width - 10}' y='{height - pad + 16}' text-anchor='end'>step {total}</text>"
        f"<text x='{pad}' y='{height - pad + 16}'>training loss by step</text>"
        f"<polyline points='{line}' class='curve'/></svg>"
    )


def finetune_html(runtime: EmulatorRuntime) -> str:
    jobs = runtime.finetunes.list()
    if not jobs:
        return "<p class='muted'>No fine-tuning jobs yet.</p>"
    out = []
    for job in jobs:
        events = job.get("_events") or []
        points, total = [], 0
        for event in events:
            match = _STEP.search(str(event.get("message", "")))
            if match:
                points.append((int(match[1]), float(match[3])))
                total = int(match[2])
        rows = [
            f"<tr><td>{when(e.get('created_at'))}</td><td>{escape(str(e.get('message')))}</td></tr>" for e in events
        ]
        out.append(
            f"<article class='job'><h3>{escape(job['id'])} <span class='badge status-{escape(job['status'])}'>"
            f"{escape(job['status'])}</span></h3><p>{escape(job.get('model', ''))} → "
            f"<code>{escape(str(job.get('fine_tuned_model') or '…'))}</code></p>"
            + loss_curve_svg(points, total)
            + f"<details><summary>{len(events)} events</summary>"
            + table(("time", "event"), rows, "events")
            + "</details></article>"
        )
    return "".join(out)


def cassettes_html(runtime: EmulatorRuntime) -> str:
    active = getattr(runtime, "cassette", None)
    if active is None:
        return "<p class='muted'>none — no cassette is recording or replaying.</p>"
    return f"<p>{escape(str(active))}</p>"  # pragma: no cover - no cassette mechanism in this build yet


SECTIONS = {
    "batches": batches_html,
    "verify": verify_html,
    "finetune": finetune_html,
    "faults": faults_html,
    "cassettes": cassettes_html,
}
