"""The inspector page: what each framework sent to the emulator and what came back, batch jobs,
Verify checks, fine-tuning loss and fault controls — served at `/inspector/` behind a token.

Server-rendered HTML fragments (escaped here) plus a little vanilla JavaScript in
`inspector_page.html` (the live request list polls `/inspector/api/requests`); nothing is loaded
from the internet. The token comes in the URL the banner prints (`?token=...`, as notebook servers
do) and is then kept in an HttpOnly same-site cookie; without it every route answers 401. The API
key and the MCP token are replaced by `***` wherever they would appear.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from kluster_agents.integrations.emulator._control.faults import Fault
from kluster_agents.integrations.emulator._inspector.request_log import InspectedFaultInjector, RequestRecord
from kluster_agents.integrations.emulator._server.runtime import EmulatorRuntime
from kluster_agents.integrations.emulator._server.web import runtime as _runtime

PATH = "/inspector"
COOKIE = "kluster_inspector"
VERIFY_PATHS = ("/v1/verify/reliability",)
VERIFY_MODEL = "klusterai/verify-reliability"
# (User-Agent product, framework) — first match wins; the adapters append their framework's product.
FRAMEWORKS = (
    ("kluster-verify-guardrail", "LiteLLM guardrail"),  # Verify calls of the LiteLLM (proxy) guardrail
    ("pydantic-ai/", "PydanticAI"),
    ("langchain", "LangChain"),
    ("litellm", "LiteLLM"),
    ("crewai", "CrewAI"),
    ("kluster-agents-cli", "CLI"),
    ("kluster-agents/", "SDK"),
    ("openai/python", "OpenAI SDK"),
)
_MCP_TOKEN = re.compile(r"MCP_TOKEN_[A-Za-z0-9_]+")  # the emulator's own MCP token format (runtime)
_STEP = re.compile(r"Step (\d+)/(\d+): training loss=([0-9.eE+-]+)")
_BATCH_TIMELINE = (
    "created_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)
_FAULT_KINDS = ("429", "5xx", "latency", "drop", "truncate")

router = APIRouter(prefix=PATH, include_in_schema=False)


# -- access -----------------------------------------------------------------------------------------
def _authorized(request: Request) -> bool:
    expected = _runtime(request).inspector_token.encode()
    given = request.query_params.get("token") or request.cookies.get(COOKIE) or ""
    return hmac.compare_digest(given.encode(), expected)


def _denied() -> Response:
    return JSONResponse(
        {
            "error": "Inspector token missing or wrong: open the inspector URL `kluster-agents emulate` printed "
            "(it ends in ?token=...), or Emulator.inspector_url."
        },
        status_code=401,
    )


class _Redactor:
    """Replaces the emulator's API key and MCP token with *** in anything shown on the page."""

    def __init__(self, runtime: EmulatorRuntime) -> None:
        self.secrets = [s for s in (runtime.api_key, runtime.mcp_token()) if s]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return _MCP_TOKEN.sub("***", text)  # earlier MCP tokens too (enable/disable issues new ones)


# -- requests -----------------------------------------------------------------------------------------
def framework_of(user_agent: str) -> str:
    """The framework that sent a request, from its User-Agent ("other" when unknown)."""
    lowered = user_agent.lower()
    return next((name for token, name in FRAMEWORKS if token in lowered), "other")


def _sse_events(raw: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The JSON events of a server-sent-events body and whether it ended with [DONE]."""
    events, done = [], False
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            continue
        try:
            events.append(json.loads(data))
        except ValueError:
            continue
    return events, done


def reassemble_stream(raw: bytes) -> dict[str, Any]:
    """A streamed chat completion put back together: content, tool calls, finish reason, usage."""
    events, done = _sse_events(raw)
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish, usage = None, None
    for event in events:
        usage = event.get("usage") or usage
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            content.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call.get("index", 0), {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                fn = call.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return {
        "reassembled_from": f"{len(events)} stream chunks",
        "complete": done,
        "content": "".join(content),
        "tool_calls": [calls[i] for i in sorted(calls)],
        "finish_reason": finish,
        "usage": usage,
    }


def _response(record: RequestRecord) -> Any:
    raw = bytes(record.extra.get("response") or b"")
    if "event-stream" in record.extra.get("response_headers", {}).get("content-type", ""):
        return reassemble_stream(raw)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _tokens(response: Any) -> int | None:
    usage = response.get("usage") if isinstance(response, Mapping) else None
    return usage.get("total_tokens") if isinstance(usage, Mapping) else None


PROBES = {"stream_options": "usage probe: stream_options refused, usage counted client-side"}
"""What a refused probe (named by our client in its compat summary) means, shown instead of a failure."""


def _probe(record: RequestRecord) -> str:
    """The label of a probe the server refused (a 400 the client expected and handled), else ""."""
    compat = record.extra.get("compat")
    probe = compat.get("probe") if isinstance(compat, Mapping) else None
    if not probe or record.status != 400:
        return ""
    return PROBES.get(str(probe), f"probe: {probe} refused")


def _changes(compat: Any) -> Any:
    """The compat summary without the probe label (which is not a change to the request)."""
    return {k: v for k, v in compat.items() if k != "probe"} if isinstance(compat, Mapping) else compat


def _summary(record: RequestRecord) -> dict[str, Any]:
    body = record.body if isinstance(record.body, Mapping) else {}
    response = _response(record)
    extra = record.extra
    return {
        "id": extra["id"],
        "time": datetime.fromtimestamp(extra["time"], UTC).strftime("%H:%M:%S"),
        "framework": framework_of(extra.get("user_agent", "")),
        "method": record.method,
        "path": record.path,
        "model": str(body.get("model") or ""),
        "status": record.status,
        "latency_ms": extra.get("latency_ms"),
        "tokens": _tokens(response),
        "stream": bool(body.get("stream")),
        "compat": bool(_changes(extra.get("compat"))),
        "probe": _probe(record),
        "fault": ", ".join(f["kind"] for f in extra.get("faults", [])),
    }


def _logged(runtime: EmulatorRuntime) -> list[RequestRecord]:
    return [r for r in runtime.controls.requests if "id" in r.extra]


def _find(runtime: EmulatorRuntime, ident: int) -> RequestRecord | None:
    return next((r for r in _logged(runtime) if r.extra["id"] == ident), None)


# -- HTML helpers -----------------------------------------------------------------------------------
def _pre(value: Any, redact: _Redactor, *, label: str = "") -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    aria = f' aria-label="{escape(label)}"' if label else ""
    return f'<pre tabindex="0"{aria}>{escape(redact(text))}</pre>'


def _when(ts: Any) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if isinstance(ts, (int, float)) else ""


def _table(headers: Iterable[str], rows: Iterable[str], cls: str = "") -> str:
    head = "".join(f"<th scope='col'>{escape(h)}</th>" for h in headers)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _compat_html(compat: Any) -> str:
    if not compat:
        return "<p class='muted'>No compat changes reported (the client sent none, or changed nothing).</p>"
    items = [f"<li><b>dropped</b> <code>{escape(p)}</code></li>" for p in compat.get("dropped", [])]
    items += [
        f"<li><b>translated</b> <code>{escape(a)}</code> → <code>{escape(str(b))}</code></li>"
        for a, b in compat.get("translated", {}).items()
    ]
    items += [
        f"<li><b>rewritten</b> <code>{escape(p)}</code>: {escape(str(v.get('from')))} → {escape(str(v.get('to')))}</li>"
        for p, v in compat.get("rewritten", {}).items()
    ]
    for m in compat.get("messages", []):
        parts = [f"dropped {', '.join(m['dropped'])}" if m.get("dropped") else ""]
        parts += [f"{k} {v}" for k, v in m.get("translated", {}).items()]
        parts += [f"role {m['role']}" if m.get("role") else "", m.get("rewritten", "")]
        items.append(f"<li><b>messages[{m.get('index')}]</b>: {escape('; '.join(p for p in parts if p))}</li>")
    known = {"dropped", "translated", "rewritten", "messages"}
    items += [f"<li>{escape(k)}: {escape(json.dumps(v))}</li>" for k, v in compat.items() if k not in known]
    return f"<ul class='compat'>{''.join(items)}</ul>"


def request_detail(runtime: EmulatorRuntime, record: RequestRecord) -> str:
    redact = _Redactor(runtime)
    summary = _summary(record)
    extra = record.extra
    faults = extra.get("faults") or []
    fault_html = (
        "".join(f"<li>{escape(json.dumps(f))}</li>" for f in faults) if faults else "<li class='muted'>none</li>"
    )
    headers = {
        "user-agent": extra.get("user_agent", ""),
        "authorization": "Bearer *** (redacted)",
        "x-kluster-compat": "(shown above)" if extra.get("compat") else "(not sent)",
    }
    query = f"?{record.query}" if record.query else ""
    probe = f"<p class='probe-note'><span class='badge probe'>probe</span> {escape(summary['probe'])}</p>"
    return (
        f"<h3 id='detail-title' tabindex='-1'>#{summary['id']} {escape(record.method)} {escape(record.path + query)}</h3>"
        f"<p><span class='badge'>{escape(summary['framework'])}</span> status <b>{escape(str(record.status))}</b>"
        f" · {escape(str(summary['latency_ms']))} ms · tokens {escape(str(summary['tokens']))}</p>"
        f"{probe if summary['probe'] else ''}"
        f"<h4>What compat changed before sending</h4>{_compat_html(_changes(extra.get('compat')))}"
        f"<h4>Injected fault</h4><ul>{fault_html}</ul>"
        f"<h4>Request body as sent</h4>{_pre(record.body, redact, label='request body')}"
        f"<h4>Response{' (stream reassembled)' if summary['stream'] else ''}</h4>"
        f"{_pre(_response(record), redact, label='response')}"
        f"<details><summary>Headers</summary>{_pre(headers, redact)}</details>"
    )


# -- batches, verify, fine-tuning, faults ---------------------------------------------------------------
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
    redact = _Redactor(runtime)
    jobs = runtime.batches.list()
    if not jobs:
        return "<p class='muted'>No batch jobs yet.</p>"
    out = []
    for job in jobs:
        counts = job.get("request_counts") or {}
        total, done, failed = counts.get("total", 0), counts.get("completed", 0), counts.get("failed", 0)
        timeline = "".join(
            f"<li><b>{escape(k.removesuffix('_at'))}</b> {_when(job.get(k))}</li>"
            for k in _BATCH_TIMELINE
            if job.get(k)
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
            + _table(("custom_id", "input (last message)", "output"), rows, "lines")
            + "</article>"
        )
    return "".join(out)


def verify_html(runtime: EmulatorRuntime) -> str:
    redact = _Redactor(runtime)
    out = []
    for record in reversed(_logged(runtime)):
        body = record.body if isinstance(record.body, Mapping) else {}
        response = _response(record)
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
            f"<p><b>Prompt</b></p>{_pre(prompt or '', redact)}<p><b>Output</b></p>{_pre(output or '', redact)}"
            f"<details><summary>Context</summary>{_pre(context or '(none)', redact)}</details>"
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
            f"<tr><td>{_when(e.get('created_at'))}</td><td>{escape(str(e.get('message')))}</td></tr>" for e in events
        ]
        out.append(
            f"<article class='job'><h3>{escape(job['id'])} <span class='badge status-{escape(job['status'])}'>"
            f"{escape(job['status'])}</span></h3><p>{escape(job.get('model', ''))} → "
            f"<code>{escape(str(job.get('fine_tuned_model') or '…'))}</code></p>"
            + loss_curve_svg(points, total)
            + f"<details><summary>{len(events)} events</summary>"
            + _table(("time", "event"), rows, "events")
            + "</details></article>"
        )
    return "".join(out)


def faults_html(runtime: EmulatorRuntime) -> str:
    faults = runtime.controls.faults
    armed = faults.armed() if isinstance(faults, InspectedFaultInjector) else []
    rows = [
        f"<tr><td>{escape(_fault_label(f))}</td><td>{escape(f.path or 'all paths')}</td>"
        f"<td>{'every request' if f.times is None else f.times}</td></tr>"
        for f in armed
    ]
    return (
        _table(("fault", "applies to", "remaining"), rows, "armed") if rows else "<p class='muted'>Nothing armed.</p>"
    )


def _fault_label(fault: Fault) -> str:
    if fault.kind == "status":
        return f"HTTP {fault.status}" + (
            f" (Retry-After {max(1, int(fault.seconds))} s)" if fault.status == 429 else ""
        )
    return {
        "latency": f"latency {fault.seconds} s",
        "drop": "dropped connection",
        "truncate": f"truncated stream after {fault.after_chunks} chunk(s)",
    }.get(fault.kind, fault.kind)


def arm_fault(runtime: EmulatorRuntime, form: Mapping[str, Any]) -> Fault:
    """Arm one fault from the page's form: kind, times (N), status, seconds, after_chunks, path."""
    kind = str(form.get("kind", ""))
    if kind not in _FAULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(_FAULT_KINDS)}")
    times = int(form.get("times") or 1)
    if times < 1:
        raise ValueError("times must be at least 1")
    path = str(form.get("path") or "") or None
    seconds = float(form.get("seconds") or 0)
    if kind == "429":
        fault = Fault("status", path=path, times=times, status=429, seconds=max(1.0, seconds or 1.0))
    elif kind == "5xx":
        status = int(form.get("status") or 503)
        if not 500 <= status <= 599:
            raise ValueError("status must be 500-599")
        fault = Fault("status", path=path, times=times, status=status)
    elif kind == "latency":
        fault = Fault("latency", path=path, times=times, seconds=min(max(seconds, 0.0), 60.0))
    elif kind == "drop":
        fault = Fault("drop", path=path, times=times)
    else:
        fault = Fault(
            "truncate", path="/v1/chat/completions", times=times, after_chunks=int(form.get("after_chunks") or 1)
        )
    return runtime.controls.faults.add(fault)


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


# -- routes -----------------------------------------------------------------------------------------------
@router.get("/")
async def page(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    html = files("kluster_agents.integrations.emulator._inspector").joinpath("inspector_page.html").read_text("utf-8")
    response = HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    response.set_cookie(COOKIE, _runtime(request).inspector_token, httponly=True, samesite="strict", path=PATH)
    return response


@router.get("/api/requests")
async def requests_json(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    runtime = _runtime(request)
    return JSONResponse(
        {"requests": [_summary(r) for r in reversed(_logged(runtime))], "mode": runtime.controls.mode},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/fragments/request/{ident}")
async def request_fragment(request: Request, ident: int) -> Response:
    if not _authorized(request):
        return _denied()
    runtime = _runtime(request)
    record = _find(runtime, ident)
    if record is None:
        return HTMLResponse(f"<p>Request #{ident} is no longer in the log.</p>", status_code=404)
    return HTMLResponse(request_detail(runtime, record))


@router.get("/fragments/{section}")
async def section_fragment(request: Request, section: str) -> Response:
    if not _authorized(request):
        return _denied()
    render = SECTIONS.get(section)
    if render is None:
        return HTMLResponse("<p>Unknown section.</p>", status_code=404)
    return HTMLResponse(render(_runtime(request)), headers={"Cache-Control": "no-store"})


@router.post("/api/faults")
async def post_fault(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    if "application/json" not in request.headers.get("content-type", ""):  # no cross-site form posts
        return JSONResponse({"error": "send JSON"}, status_code=415)
    try:
        form = await request.json()
        fault = arm_fault(_runtime(request), form if isinstance(form, Mapping) else {})
    except (ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"armed": _fault_label(fault), "times": fault.times})


@router.post("/api/faults/clear")
async def clear_faults(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    _runtime(request).controls.clear_faults()
    return JSONResponse({"cleared": True})
