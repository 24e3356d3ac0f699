"""HTML pieces the inspector's fragments share: escaped `<pre>` blocks and tables, timestamps, and the
redactor that replaces the emulator's API key and MCP token with `***` in anything shown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from typing import Any

from kluster_agents.integrations.emulator._server.runtime import EmulatorRuntime

_MCP_TOKEN = re.compile(r"MCP_TOKEN_[A-Za-z0-9_]+")  # the emulator's own MCP token format (runtime)


class Redactor:
    """Replaces the emulator's API key and MCP token with *** in anything shown on the page."""

    def __init__(self, runtime: EmulatorRuntime) -> None:
        self.secrets = [s for s in (runtime.api_key, runtime.mcp_token()) if s]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return _MCP_TOKEN.sub("***", text)  # earlier MCP tokens too (enable/disable issues new ones)


def pre(value: Any, redact: Redactor, *, label: str = "") -> str:
    """A value (JSON unless already text) as an escaped, redacted, keyboard-focusable `<pre>` block."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    aria = f' aria-label="{escape(label)}"' if label else ""
    return f'<pre tabindex="0"{aria}>{escape(redact(text))}</pre>'


def when(ts: Any) -> str:
    """A Unix timestamp as UTC date and time ("" for none)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if isinstance(ts, (int, float)) else ""


def table(headers: Iterable[str], rows: Iterable[str], cls: str = "") -> str:
    """A table with escaped column headers around rows that are already HTML."""
    head = "".join(f"<th scope='col'>{escape(h)}</th>" for h in headers)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
