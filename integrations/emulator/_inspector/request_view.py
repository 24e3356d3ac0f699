"""One logged request as the inspector shows it: which framework sent it (by User-Agent), its
response (a stream reassembled), what our client's compat layer changed, and the detail fragment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from kluster_agents.integrations.emulator._inspector.markup import Redactor, pre
from kluster_agents.integrations.emulator._inspector.request_log import RequestRecord
from kluster_agents.integrations.emulator._server.runtime import EmulatorRuntime

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


def response_of(record: RequestRecord) -> Any:
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


def request_summary(record: RequestRecord) -> dict[str, Any]:
    body = record.body if isinstance(record.body, Mapping) else {}
    response = response_of(record)
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


def logged(runtime: EmulatorRuntime) -> list[RequestRecord]:
    return [r for r in runtime.controls.requests if "id" in r.extra]


def find(runtime: EmulatorRuntime, ident: int) -> RequestRecord | None:
    return next((r for r in logged(runtime) if r.extra["id"] == ident), None)


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
    redact = Redactor(runtime)
    summary = request_summary(record)
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
        f"<h4>Request body as sent</h4>{pre(record.body, redact, label='request body')}"
        f"<h4>Response{' (stream reassembled)' if summary['stream'] else ''}</h4>"
        f"{pre(response_of(record), redact, label='response')}"
        f"<details><summary>Headers</summary>{pre(headers, redact)}</details>"
    )
