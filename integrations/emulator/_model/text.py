"""Small text helpers shared by the reply, validation and verify logic: message text, word
extraction and the emulator's token estimate (about four characters per token). Message text
itself comes from `compat.content_text`, the one reading of message contents."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kluster_agents.integrations._api.compat import content_text

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]{2,}")
STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "was",
        "were",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "with",
        "this",
        "that",
        "these",
        "those",
        "from",
        "into",
        "about",
        "please",
        "you",
        "your",
        "yours",
        "our",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "does",
        "did",
        "has",
        "have",
        "had",
        "not",
        "but",
        "how",
        "why",
        "when",
        "where",
        "give",
        "tell",
        "me",
        "its",
        "it's",
        "than",
        "then",
        "them",
        "they",
        "their",
        "there",
        "here",
        "some",
        "any",
        "all",
    ]
)


def last_text(messages: Sequence[Mapping[str, Any]], role: str) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == role:
            return content_text(message.get("content"))
    return ""


def keywords(text: str) -> list[str]:
    """Distinct non-trivial words of `text`, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text):
        if word.lower() not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


def estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def prompt_tokens(messages: Sequence[Any]) -> int:
    total = 0
    for message in messages:
        if isinstance(message, Mapping):
            total += 4 + estimate_tokens(content_text(message.get("content")))
            if message.get("tool_calls"):
                total += estimate_tokens(json.dumps(message["tool_calls"]))
    return total
