"""The recorded request/response exchanges shipped in `recorded/` (taken from the vendor docs'
examples, re-recordable with the maintainers' `tools/record_exchanges.py`), and the
indexes the emulator replays from them. JSON only: cheap enough to import at pytest start."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

RECORDED_DIR = Path(__file__).resolve().with_name("recorded")  # the source tree under an editable install
REPLAYED_CHAT_KINDS = ("chat.completion", "verify.chat_completion")


@lru_cache(maxsize=1)
def _load_all() -> tuple[tuple[str, dict[str, Any]], ...]:
    return tuple((p.stem, json.loads(p.read_text(encoding="utf-8"))) for p in sorted(RECORDED_DIR.glob("*.json")))


def load_exchanges() -> dict[str, dict[str, Any]]:
    """Every recorded exchange by name (the file stem); each has `source`, `kind`, `request`, `response`."""
    return {name: json.loads(json.dumps(data)) for name, data in _load_all()}  # deep copy: callers may mutate


def chat_replays(exchanges: dict[str, dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(request body, assistant message) of every recorded non-streaming chat completion. A replay
    matches on the model, the messages and the tool declarations of the body (see
    `replies.request_key`), never on the messages alone."""
    result = []
    for exchange in exchanges.values():
        body = exchange.get("request", {}).get("body") or {}
        response = exchange.get("response", {}).get("body") or {}
        if exchange.get("kind") in REPLAYED_CHAT_KINDS and body.get("messages") and response.get("choices"):
            result.append((body, response["choices"][0]["message"]))
    return result


def verify_answers(exchanges: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """{prompt, output, response} of every recorded `/v1/verify/reliability` exchange."""
    return [
        {
            "prompt": e["request"]["body"]["prompt"],
            "output": e["request"]["body"]["output"],
            "response": e["response"]["body"],
        }
        for e in exchanges.values()
        if e.get("kind") == "verify.reliability"
    ]
