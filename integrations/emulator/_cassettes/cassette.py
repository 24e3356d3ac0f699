"""kluster cassettes: recorded HTTP exchanges with the kluster API, as a readable JSON file, that the
emulator replays for a user's own test (see `passthrough.py` for the HTTP side, the pytest plugin
for `@pytest.mark.kluster_cassette("name")` and `pytest --kluster-record`).

A cassette is `{"format", "name", "recorded_against", "recorded_at", "interactions": [...]}`; each
interaction is a request (method, path, query, body) and the response (status, an allowlist of
headers, and a `json` body, a `text` body, or the `stream` of SSE events). Nothing secret is
written: headers are kept from an allowlist (never Authorization or cookies), every string goes
through `api.errors.redact`, and values under key-like names (`token`, `apiKey`, ...) become `***`.

Replay matches a request on method + path + query + the *normalised* body: chat bodies (and the
chat bodies inside uploaded batch files) go through `prepare_chat_request`, and volatile fields
(`user`, tool-call ids, upload file names, plus the marker's `ignore` paths) are
removed. Repeated identical requests get the recorded responses in order; a status poll (a GET)
replays only the last response of each run of equal `status` values (time compressed: a batch
that was polled twenty times while `in_progress` replays `in_progress` once) and then repeats the
final one. An unmatched request gets a `CassetteMismatch` with a diff against the closest recording.
"""

from __future__ import annotations

import base64
import difflib
import json
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from kluster_agents.integrations._api.errors import KlusterError, redact, register_secret

FORMAT = 1
RECORDED_AGAINST_EMULATOR = "emulator"
KEPT_RESPONSE_HEADERS = ("content-type", "retry-after")
SECRET_KEYS = frozenset({"authorization", "apikey", "api_key", "token", "mcp_token", "cookie", "set-cookie"})
# `stream_options` is not volatile: the client asks for stream usage once and falls back when refused.
VOLATILE_TOP_LEVEL = ("user",)
CHAT_PATHS = ("/v1/chat/completions",)
JSON_POINTER_SEP = "."
SAVE_WAIT_SECONDS = 30.0


class CassetteError(KlusterError):
    """A cassette cannot be used (missing file, unreadable JSON, wrong format)."""


class CassetteMismatch(KlusterError, AssertionError):
    """A request that no recorded exchange of the cassette matches; the message holds the diff."""


def scrub(value: Any) -> Any:
    """`value` with secrets removed: key-like fields become `***`, strings go through `redact`."""
    if isinstance(value, dict):
        return {
            k: ("***" if isinstance(k, str) and k.lower() in SECRET_KEYS and v else scrub(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return redact(value) if isinstance(value, str) else value


def register_secrets_in(value: Any) -> None:
    """Remember every value under a key-like name (an MCP token in a response) as a secret, so it is
    redacted wherever else it shows up."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.lower() in SECRET_KEYS and isinstance(v, str):
                register_secret(v)
            else:
                register_secrets_in(v)
    elif isinstance(value, list):
        for v in value:
            register_secrets_in(v)


# -- normalisation -------------------------------------------------------------------------------


def _normalise_chat(body: Any) -> Any:
    """A chat body after `prepare_chat_request` (as the client's compat layer would send it), minus
    the fields that change between runs without changing the request's meaning."""
    if not isinstance(body, dict):
        return body
    from kluster_agents.integrations._api.compat import prepare_chat_request

    stream_options = body.get("stream_options")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            body = prepare_chat_request(body, settings=_normalising_settings())
    except Exception:  # a body compat refuses is compared as sent
        body = dict(body)
    if stream_options is not None:  # compat drops it, but the stream-usage probe and its fallback differ by it
        body["stream_options"] = stream_options
    for name in VOLATILE_TOP_LEVEL:
        body.pop(name, None)
    messages = body.get("messages")
    if isinstance(messages, list):
        body["messages"] = [_without_call_ids(m) for m in messages]
    return body


_SETTINGS: Any = None


def _normalising_settings() -> Any:
    global _SETTINGS
    if _SETTINGS is None:
        from kluster_agents.integrations._api.settings import KlusterSettings

        _SETTINGS = KlusterSettings.load(api_key="cassette-normalising-only")
    return _SETTINGS


def _without_call_ids(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    message = {k: v for k, v in message.items() if k != "tool_call_id"}
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        message["tool_calls"] = [{k: v for k, v in c.items() if k != "id"} if isinstance(c, dict) else c for c in calls]
    return message


def _normalise_jsonl(text: str) -> Any:
    """Uploaded batch input: each line's chat body normalised (custom ids are kept: results join on them)."""
    lines = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            lines.append(raw)
            continue
        if isinstance(line, dict) and isinstance(line.get("body"), dict):
            line = {**line, "body": _normalise_chat(line["body"])}
        lines.append(line)
    return lines


def _drop_path(value: Any, path: Sequence[str]) -> Any:
    if not path or not isinstance(value, dict):
        return value
    head, rest = path[0], path[1:]
    if head not in value:
        return value
    if not rest:
        return {k: v for k, v in value.items() if k != head}
    return {**value, head: _drop_path(value[head], rest)}


def normalise_request(method: str, path: str, query: str, body: Any, ignore: Iterable[str] = ()) -> dict[str, Any]:
    """The comparable form of a request (see the module docstring)."""
    if path in CHAT_PATHS:
        body = _normalise_chat(body)
    elif isinstance(body, dict) and "multipart" in body:
        form = {}
        for name, part in body["multipart"].items():
            if isinstance(part, dict) and "content" in part:  # an uploaded file: its name is volatile
                part = {"content": _normalise_jsonl(part["content"]) if part.get("content") else part["content"]}
            form[name] = part
        body = {"multipart": form}
    for dotted in ignore:
        body = _drop_path(body, dotted.split(JSON_POINTER_SEP))
    return {
        "method": method.upper(),
        "path": path,
        "query": sorted(parse_qsl(query, keep_blank_values=True)),
        "body": scrub(body),
    }


def _key(normalised: Mapping[str, Any]) -> str:
    return json.dumps(normalised, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _pretty(normalised: Mapping[str, Any]) -> list[str]:
    return json.dumps(normalised, sort_keys=True, ensure_ascii=False, indent=2).splitlines()


# -- the cassette file -------------------------------------------------------------------------


def encode_body(content: bytes, content_type: str) -> dict[str, Any]:
    """A response body as the cassette stores it: `json`, `text` or `base64`."""
    if "json" in content_type:
        try:
            return {"json": json.loads(content)} if content else {"text": ""}
        except ValueError:
            pass
    try:
        return {"text": content.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(content).decode("ascii")}


def decode_body(response: Mapping[str, Any]) -> bytes:
    """The bytes of a stored (non-streaming) response body."""
    if "json" in response:
        return json.dumps(response["json"], ensure_ascii=False).encode("utf-8")
    if "base64" in response:
        return base64.b64decode(response["base64"])
    return str(response.get("text", "")).encode("utf-8")


def parse_sse(text: str) -> list[Any]:
    """The `data:` payloads of an SSE stream, JSON-decoded where they are JSON (`[DONE]` stays a string)."""
    events: list[Any] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in block.split("\n") if line.startswith("data:"))
        if not data:
            continue
        try:
            events.append(json.loads(data))
        except ValueError:
            events.append(data)
    return events


def sse_bytes(event: Any) -> bytes:
    data = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


@dataclass
class Cassette:
    """The recorded exchanges of one cassette file."""

    name: str
    interactions: list[dict[str, Any]] = field(default_factory=list)
    recorded_against: str = ""
    recorded_at: str = ""

    @classmethod
    def load(cls, path: Path) -> Cassette:
        if not path.is_file():
            raise CassetteError(
                f"kluster cassette '{path.stem}' is missing ({path}). Record it once with `pytest --kluster-record` "
                "(KLUSTER_API_KEY set, or KLUSTER_BASE_URL pointing at any kluster-compatible server)."
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CassetteError(f"kluster cassette {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("interactions"), list):
            raise CassetteError(f"kluster cassette {path} is not a format-{FORMAT} cassette; re-record it.")
        return cls(
            name=str(data.get("name", path.stem)),
            interactions=data["interactions"],
            recorded_against=str(data.get("recorded_against", "")),
            recorded_at=str(data.get("recorded_at", "")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "recorded_against": self.recorded_against,
            "recorded_at": self.recorded_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "interactions": scrub(self.interactions),
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        path.write_text(redact(text), encoding="utf-8")


# -- recording ---------------------------------------------------------------------------------


class CassetteRecorder:
    """Collects exchanges forwarded upstream (thread-safe); `save()` writes the cassette."""

    mode = "record"

    def __init__(self, path: Path, *, name: str, upstream_url: str, upstream_key: str | None) -> None:
        self.path = path
        self.upstream_url = upstream_url.rstrip("/")
        self._upstream_key = upstream_key or ""
        register_secret(upstream_key)
        self.cassette = Cassette(name=name)
        self._against_emulator = False
        self._lock = threading.Condition()
        self._in_flight = 0

    def __repr__(self) -> str:
        return f"CassetteRecorder({self.path}, upstream={self.upstream_url!r})"

    @property
    def upstream_key(self) -> str:
        return self._upstream_key

    def begin(self) -> None:
        """An exchange is being forwarded: `save()` waits for its `add()` (or `abandon()`)."""
        with self._lock:
            self._in_flight += 1

    def abandon(self) -> None:
        """The forwarded exchange failed before there was anything to record."""
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def add(self, request: dict[str, Any], response: dict[str, Any], *, from_emulator: bool) -> None:
        register_secrets_in(response)
        with self._lock:
            self._against_emulator |= from_emulator
            self.cassette.interactions.append({"request": scrub(request), "response": scrub(response)})
            self._in_flight -= 1
            self._lock.notify_all()

    def save(self, wait: float = SAVE_WAIT_SECONDS) -> Path:
        """Write the cassette, once exchanges still streaming to the client are recorded (up to `wait` s)."""
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight <= 0, timeout=wait)
            self.cassette.recorded_against = RECORDED_AGAINST_EMULATOR if self._against_emulator else self.upstream_url
            self.cassette.save(self.path)
        return self.path


# -- replay ------------------------------------------------------------------------------------


@dataclass
class _Track:
    """The recorded responses of one request key, served in order."""

    method: str
    responses: list[dict[str, Any]]
    served: int = 0


def _compress_polls(responses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the last response of each run of responses with the same `status` (time compression)."""
    kept: list[dict[str, Any]] = []
    for response in responses:
        status = _status_of(response)
        if kept and status is not None and _status_of(kept[-1]) == status:
            kept[-1] = response
        else:
            kept.append(response)
    return kept


def _status_of(response: Mapping[str, Any]) -> Any:
    body = response.get("json")
    return (response.get("status"), body.get("status")) if isinstance(body, dict) and "status" in body else None


class CassettePlayer:
    """Serves a cassette's responses to matching requests (thread-safe) and keeps every mismatch."""

    mode = "replay"

    def __init__(self, path: Path, *, ignore: Iterable[str] = ()) -> None:
        self.path = path
        self.cassette = Cassette.load(path)
        self.ignore = tuple(ignore)
        self.mismatches: list[CassetteMismatch] = []
        self.served = 0  # requests answered from the cassette
        self._lock = threading.Lock()
        self._recorded: list[tuple[int, dict[str, Any]]] = []
        grouped: dict[str, _Track] = {}
        for number, interaction in enumerate(self.cassette.interactions, start=1):
            req = interaction["request"]
            normalised = normalise_request(
                req["method"], req["path"], req.get("query", ""), req.get("body"), self.ignore
            )
            self._recorded.append((number, normalised))
            track = grouped.setdefault(_key(normalised), _Track(req["method"].upper(), []))
            track.responses.append(interaction["response"])
        for track in grouped.values():
            if track.method == "GET":
                track.responses = _compress_polls(track.responses)
        self._tracks = grouped

    def __repr__(self) -> str:
        return f"CassettePlayer({self.path}, {len(self.cassette.interactions)} interactions)"

    def match(self, method: str, path: str, query: str, body: Any) -> dict[str, Any]:
        """The recorded response for this request; raises (and remembers) `CassetteMismatch`."""
        normalised = normalise_request(method, path, query, body, self.ignore)
        with self._lock:
            track = self._tracks.get(_key(normalised))
            if track is not None and track.served < len(track.responses):
                track.served += 1
                self.served += 1
                return track.responses[track.served - 1]
            if track is not None and track.method == "GET":  # polls past the recording: the final state
                self.served += 1
                return track.responses[-1]
            error = CassetteMismatch(self._explain(normalised, track))
            self.mismatches.append(error)
            raise error

    def _explain(self, sent: dict[str, Any], exhausted: _Track | None) -> str:
        head = (
            f"kluster cassette {self.cassette.name!r} ({self.path}): "
            f"no recorded exchange matches {sent['method']} {sent['path']}"
        )
        if exhausted is not None:
            return (
                f"{head}: this request was recorded {len(exhausted.responses)} time(s) and all were "
                "replayed already; the code under test now sends it once more. Re-record with `pytest --kluster-record`."
            )
        if not self._recorded:
            return f"{head}: the cassette is empty. Re-record with `pytest --kluster-record`."
        number, closest = max(self._recorded, key=lambda item: _similarity(item[1], sent))
        diff = difflib.unified_diff(
            _pretty(closest), _pretty(sent), "recorded (expected)", "sent (actual)", lineterm="", n=2
        )
        return (
            f"{head}.\nClosest recorded request: interaction #{number}, {closest['method']} {closest['path']} "
            f"(compared after compat normalisation; volatile fields ignored)\n"
            + "\n".join(diff)
            + "\nIf the change is intended, re-record the cassette with `pytest --kluster-record`."
        )

    def unused(self) -> int:
        """How many recorded responses were never served (poll repeats compressed away excluded)."""
        with self._lock:
            return sum(max(0, len(t.responses) - t.served) for t in self._tracks.values())


def _similarity(recorded: dict[str, Any], sent: dict[str, Any]) -> tuple[int, int, float]:
    same_method = int(recorded["method"] == sent["method"])
    same_path = int(recorded["path"] == sent["path"])
    ratio = difflib.SequenceMatcher(None, _key(recorded), _key(sent)).ratio()
    return same_method + same_path, same_path, ratio
