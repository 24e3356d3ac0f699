"""The page's fault controls: what is armed now, and arming one fault from the page's form (bounded:
a 5xx status within 500-599, latency up to 60 s)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from kluster_agents.integrations.emulator._control.faults import Fault
from kluster_agents.integrations.emulator._inspector.markup import table
from kluster_agents.integrations.emulator._inspector.request_log import InspectedFaultInjector
from kluster_agents.integrations.emulator._server.runtime import EmulatorRuntime

_FAULT_KINDS = ("429", "5xx", "latency", "drop", "truncate")


def faults_html(runtime: EmulatorRuntime) -> str:
    faults = runtime.controls.faults
    armed = faults.armed() if isinstance(faults, InspectedFaultInjector) else []
    rows = [
        f"<tr><td>{escape(fault_label(f))}</td><td>{escape(f.path or 'all paths')}</td>"
        f"<td>{'every request' if f.times is None else f.times}</td></tr>"
        for f in armed
    ]
    return table(("fault", "applies to", "remaining"), rows, "armed") if rows else "<p class='muted'>Nothing armed.</p>"


def fault_label(fault: Fault) -> str:
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
