"""What the inspector page needs to know about each logged request, recorded by the gateway into
`RequestRecord.extra`: an id, the wall-clock time, the User-Agent, the `x-kluster-compat` summary
our client sent, the latency, the response (headers and body, capped; streams kept as sent and
reassembled on display) and every fault injected into it; and `RequestLog`, which holds the records.

Headers other than these are never kept, so the API key (Authorization) never reaches the log.

The log is bounded by bytes, not by count, and keeps bodies as bytes (parsed when the page or a test
reads one): a finished record is a handful of strings and numbers that the garbage collector does not
track, so a long-running emulator's full collections stay as short as a bare app's.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from kluster_agents.integrations.emulator._control.faults import Fault, FaultInjector, FaultKind

COMPAT_HEADER = b"x-kluster-compat"  # the client side is `integrations/_api/compat_trace.py`
MAX_KEPT_BODY = 256 * 1024  # response bytes kept per request for the page
DEFAULT_LOG_BYTES = 64 * 1024 * 1024  # what the request log may hold: request and response bytes
RECORD_OVERHEAD = 1024  # bytes counted per record besides its bodies (the record, its dict, short strings)


@dataclass(slots=True)
class RequestRecord:
    """One request the emulator received. Headers (and so the API key) are never recorded.

    A JSON body is kept as the bytes received and parsed on each read of `body`: a long log of parsed
    bodies is hundreds of thousands of live objects, which the garbage collector walks on every full
    collection while the server is answering."""

    method: str
    path: str
    query: str
    raw_body: bytes | None = None  # the JSON body as received (other bodies, e.g. uploads, are not kept)
    status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # responses may carry the MCP token
    charged: int = field(default=0, repr=False)  # bytes the request log counts for this record

    @property
    def body(self) -> Any:
        """The parsed JSON body (None when the request had none, or it was not valid JSON)."""
        if not self.raw_body:
            return None
        try:
            return json.loads(self.raw_body)
        except ValueError:
            return None


_ids = itertools.count(1)
current: ContextVar[RequestRecord | None] = ContextVar("kluster_emulator_request", default=None)


class _Logged(Protocol):
    raw_body: bytes | None
    extra: dict[str, Any]
    charged: int


R = TypeVar("R", bound=_Logged)


class RequestLog(Generic[R]):
    """Records oldest first, dropping the oldest once their bytes pass `max_bytes` (the newest record
    is always kept). A record is charged its request body when logged and its kept response when that
    ends (`seal`). Thread-safe: the server appends while a test or the page reads."""

    def __init__(self, max_bytes: int = DEFAULT_LOG_BYTES) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._records: deque[R] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def append(self, record: R) -> None:
        with self._lock:
            self._records.append(record)
            self._charge(record, RECORD_OVERHEAD)

    def charge_request(self, record: R, body: bytes) -> None:
        """Keep `body` (the request's JSON) on the record and count it."""
        record.raw_body = body
        with self._lock:
            self._charge(record, len(body))

    def seal(self, record: R) -> None:
        """The response has ended: freeze what the page needs into untracked values and count it."""
        extra = record.extra
        response = extra.get("response")
        if isinstance(response, KeptBody):
            extra["response"] = response = bytes(response)  # `RequestRecord` keeps `extra` out of its repr
        if extra.get("faults") == []:
            extra["faults"] = ()
        with self._lock:
            self._charge(record, len(response or b""))

    def records(self) -> list[R]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.nbytes = 0

    def _charge(self, record: R, nbytes: int) -> None:
        if record.charged < 0:  # already dropped from the log
            return
        record.charged += nbytes
        self.nbytes += nbytes
        records = self._records
        while self.nbytes > self.max_bytes and len(records) > 1:
            oldest = records.popleft()
            self.nbytes -= oldest.charged
            oldest.charged = -1


class KeptBody(bytearray):
    """The kept response bytes; its repr is only their size (responses may carry the MCP token)."""

    __slots__ = ()

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


def observe_response(log: RequestLog[RequestRecord], record: RequestRecord, message: MutableMapping[str, Any]) -> None:
    """Keep the response's content type and body (up to `MAX_KEPT_BODY`) and the latency; seal the
    record in `log` when the response ends."""
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
            log.seal(record)


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
