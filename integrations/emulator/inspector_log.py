"""What the inspector page needs to know about each logged request, recorded by the gateway into
`RequestRecord.extra`: an id, the wall-clock time, the User-Agent, the `x-kluster-compat` summary
our client sent, the latency, the response (headers and body, capped; streams kept as sent and
reassembled on display) and every fault injected into it.

Headers other than these are never kept, so the API key (Authorization) never reaches the log.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from kluster_agents.integrations.emulator.faults import Fault, FaultInjector, FaultKind

if TYPE_CHECKING:
    from kluster_agents.integrations.emulator.controls import RequestRecord

COMPAT_HEADER = b"x-kluster-compat"  # the client side is `integrations/_api/compat_trace.py`
MAX_KEPT_BODY = 256 * 1024  # response bytes kept per request for the page
_ids = itertools.count(1)
current: ContextVar[RequestRecord | None] = ContextVar("kluster_emulator_request", default=None)


class KeptBody(bytearray):
    """The kept response bytes; its repr is only their size (responses may carry the MCP token)."""

    def __repr__(self) -> str:
        return f"<{len(self)} response bytes>"


def observe_request(record: RequestRecord, headers: dict[bytes, bytes]) -> None:
    """Note the request's id, time, User-Agent and compat summary; make it the current request."""
    compat: Any = None
    raw = headers.get(COMPAT_HEADER)
    if raw:
        try:
            compat = json.loads(raw.decode("latin-1"))
        except ValueError:
            compat = {"unreadable": raw.decode("latin-1")[:200]}
    record.extra.update(
        id=next(_ids),
        time=time.time(),
        started=time.perf_counter(),
        user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
        compat=compat,
        faults=[],
        response=KeptBody(),
        response_headers={},
    )
    current.set(record)


def observe_response(record: RequestRecord, message: MutableMapping[str, Any]) -> None:
    """Keep the response's content type and body (up to `MAX_KEPT_BODY`) and the latency."""
    extra = record.extra
    if "id" not in extra:
        return
    if message["type"] == "http.response.start":
        keep = (b"content-type", b"retry-after")
        extra["response_headers"] = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", []) if k.lower() in keep
        }
    elif message["type"] == "http.response.body":
        body: bytearray = extra["response"]
        room = MAX_KEPT_BODY - len(body)
        if room > 0:
            body.extend(message.get("body", b"")[:room])
        if not message.get("more_body"):
            extra["latency_ms"] = round((time.perf_counter() - extra["started"]) * 1000, 1)


def note_fault(fault: Fault) -> None:
    """Attach an injected fault to the request being served (when there is one)."""
    record = current.get()
    if record is not None and "faults" in record.extra:
        shown = {k: v for k, v in asdict(fault).items() if k not in ("fraction", "path") or v is not None}
        record.extra["faults"].append(shown)
        if fault.kind == "drop":
            record.extra["latency_ms"] = round((time.perf_counter() - record.extra["started"]) * 1000, 1)


class InspectedFaultInjector(FaultInjector):
    """A `FaultInjector` that notes each fault it fires on the current request and lists what is armed."""

    def take(self, kind: FaultKind, path: str) -> Fault | None:
        fault = super().take(kind, path)
        if fault is not None:
            note_fault(fault)
        return fault

    def armed(self) -> list[Fault]:
        """The faults still waiting to fire, oldest first (copies)."""
        with self._lock:
            return [Fault(**asdict(f)) for f in self._faults]
