"""What `compat.prepare_chat_request` changed in one request, as a small, content-free summary that
our client carries in the `x-kluster-compat` request header for the emulator's inspector page.

The summary names parameters and message fields and gives message indices and roles; it never
carries message content, tool definitions, or anything from the request's values except the
resolved model name and integer limits (which are not secrets). The real service ignores unknown
headers; `KlusterSettings.send_compat_header` decides when the header is sent ('auto': only to a
loopback base URL, where the emulator binds).
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from kluster_agents.integrations._api.compat import PARAM_RULES
from kluster_agents.integrations._api.settings import KlusterSettings

COMPAT_HEADER = "x-kluster-compat"
MAX_HEADER_CHARS = 4000  # well under common 8 KB header limits; message details are cut first
_SHOWN_VALUES = ("model", "max_completion_tokens")  # values that are neither content nor secrets


def _as_mapping(message: Any) -> Mapping[str, Any]:
    if hasattr(message, "model_dump"):
        message = message.model_dump(exclude_none=True)
    return message if isinstance(message, Mapping) else {}


def _message_changes(before: list[Any], after: list[Any]) -> list[dict[str, Any]]:
    """Per message (compat maps messages one to one): dropped fields and role/shape rewrites."""
    changes: list[dict[str, Any]] = []
    for index, (old_raw, new) in enumerate(zip(before, after, strict=False)):
        old = {k: v for k, v in _as_mapping(old_raw).items() if v is not None}
        change: dict[str, Any] = {}
        dropped = sorted(k for k in old if k not in new and k != "function_call")
        if dropped:
            change["dropped"] = dropped
        if "function_call" in old:
            change["translated"] = {"function_call": "tool_calls"}
        if old.get("role") != new.get("role"):
            change["role"] = f"{old.get('role')}->{new.get('role')}"
        if old.get("tool_calls") and not new.get("tool_calls"):
            change["rewritten"] = "tool calls as text"
        elif old.get("role") == "tool" and new.get("role") != "tool":
            change["rewritten"] = "tool result as text"
        if change:
            changes.append({"index": index, **change})
    return changes


def compat_changes(original: Mapping[str, Any], prepared: Mapping[str, Any]) -> dict[str, Any]:
    """What compat did to `original` to produce `prepared`: dropped, translated and rewritten
    parameters, and message changes. Empty when nothing changed."""
    before = {k: v for k, v in original.items() if v is not None}
    translated = {
        name: rule.target
        for name, rule in PARAM_RULES.items()
        if rule.action == "translate" and name in before and rule.target in prepared and rule.target not in before
    }
    dropped = sorted(k for k in before if k not in prepared and k not in translated)
    rewritten: dict[str, Any] = {}
    for name in _SHOWN_VALUES:
        old = before.get(name, before.get("max_tokens") if name == "max_completion_tokens" else None)
        new = prepared.get(name)
        if old is not None and new is not None and old != new:
            rewritten[name] = {"from": old, "to": new}
    changes: dict[str, Any] = {}
    if dropped:
        changes["dropped"] = dropped
    if translated:
        changes["translated"] = translated
    if rewritten:
        changes["rewritten"] = rewritten
    messages = _message_changes(list(before.get("messages") or []), list(prepared.get("messages") or []))
    if messages:
        changes["messages"] = messages
    return changes


def header_value(changes: Mapping[str, Any]) -> str:
    """Compact ASCII JSON of `changes`, cut to `MAX_HEADER_CHARS` (message details go first)."""
    value = json.dumps(changes, separators=(",", ":"), ensure_ascii=True, default=str)
    if len(value) > MAX_HEADER_CHARS and "messages" in changes:
        shown = {**changes, "messages": list(changes["messages"])}
        while shown["messages"] and len(value) > MAX_HEADER_CHARS:
            shown["messages"].pop()
            shown["messages_cut"] = True
            value = json.dumps(shown, separators=(",", ":"), ensure_ascii=True, default=str)
    return value if len(value) <= MAX_HEADER_CHARS else json.dumps({"cut": True})


def with_probe(extra_headers: Mapping[str, Any] | None, probe: str) -> dict[str, Any]:
    """`extra_headers` with `probe` named in the compat summary: the request asks for something only to
    learn whether the server accepts it (the stream-usage `stream_options` probe), so the inspector
    shows a refusal as a probe answered, not as a failed call."""
    headers = dict(extra_headers or {})
    current = headers.get(COMPAT_HEADER)
    headers[COMPAT_HEADER] = _probed(current if isinstance(current, str) else None, probe)
    return headers


@functools.lru_cache(maxsize=64)
def _probed(summary: str | None, probe: str) -> str:
    """Cached: a client sends the same few summaries over and over (one per request shape)."""
    return header_value({**(json.loads(summary) if summary is not None else {}), "probe": probe})


@functools.lru_cache(maxsize=64)
def _is_loopback(base_url: str) -> bool:
    """Cached: asked on every request (parsing the URL and the address costs ~10 µs)."""
    host = (urlparse(base_url).hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sends_compat_header(settings: KlusterSettings | None) -> bool:
    """Whether requests made with `settings` carry `x-kluster-compat` (see the module docstring)."""
    if settings is None:
        return False
    if settings.send_compat_header == "auto":
        return _is_loopback(settings.base_url)
    return settings.send_compat_header == "always"
