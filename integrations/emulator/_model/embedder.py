"""Deterministic text embeddings for the emulated embedding models (EMULATED, not bge-m3).

The vectors only have to behave like real embeddings where a client can tell: fixed length
(the catalog's `dimensions`), unit norm, identical text -> identical vector, and texts that
share words (or word pieces) -> a higher cosine similarity than unrelated texts, so retrieval
over emulated vectors ranks documents by relevance. Features are lower-cased words (a plural
`s` stripped), word bigrams and character trigrams of each word, each hashed (blake2b, stable
across processes) to two signed coordinates; a constant start feature keeps every vector
non-zero, like the `<s>` token of a real encoder.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from functools import lru_cache

from kluster_agents.integrations.emulator._model.text import estimate_tokens

_WORD = re.compile(r"\w+", re.UNICODE)
_WEAK = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "which",
        "who",
        "with",
        "how",
        "why",
        "when",
        "where",
        "does",
        "do",
        "did",
        "can",
    ]
)
_START = "<s>"
_SPECIAL_TOKENS = 2  # an XLM-RoBERTa tokenizer (bge-m3's) adds <s> and </s> to every input


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _features(text: str) -> dict[str, float]:
    words = [_stem(w) for w in _WORD.findall(text.lower())]
    weights: dict[str, float] = {_START: 1.0}
    for word in words:
        weak = word in _WEAK or len(word) < 2
        weights["w:" + word] = weights.get("w:" + word, 0.0) + (0.25 if weak else 1.0)
        if weak:
            continue
        padded = f"<{word}>"
        grams = [padded[i : i + 3] for i in range(len(padded) - 2)]
        for gram in grams:
            weights["c:" + gram] = weights.get("c:" + gram, 0.0) + 0.8 / len(grams)
    for first, second in itertools.pairwise(words):
        weights[f"b:{first} {second}"] = weights.get(f"b:{first} {second}", 0.0) + 0.5
    return weights


@lru_cache(maxsize=65_536)
def _slots(feature: str, dimensions: int) -> tuple[tuple[int, float], tuple[int, float]]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    first = int.from_bytes(digest[0:3], "little")
    second = int.from_bytes(digest[3:6], "little")
    return (
        (first % dimensions, 1.0 if digest[6] & 1 else -1.0),
        (second % dimensions, 1.0 if digest[7] & 1 else -1.0),
    )


def embed(text: str, dimensions: int) -> list[float]:
    """The unit-length vector of `text` with `dimensions` coordinates."""
    vector = [0.0] * dimensions
    for feature, weight in _features(text).items():
        for index, sign in _slots(feature, dimensions):
            vector[index] += sign * weight
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def input_tokens(text: str) -> int:
    """Tokens one input counts for in `usage.prompt_tokens` (the emulator's estimate + specials)."""
    return (estimate_tokens(text) if text else 0) + _SPECIAL_TOKENS
