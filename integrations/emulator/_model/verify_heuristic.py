"""The emulator's Verify: recorded answers for the documented examples, otherwise a small,
clearly labelled heuristic — never a claim about the truth. Explanations start with "[emulated]".

With context: the claims of the output (numbers, dates, capitalised names) are judged against the
context: a claim found in the context (or the prompt) is supported; a number, date or name found
in neither contradicts it, and the answer is flagged as a hallucination.
Without context: flags absolute certainty and a few well-known false claims.
In both cases whatever the output merely echoes from the prompt (the question itself, the
emulated model's "[emulated] reply to: ..." answers) is never held against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from kluster_agents.integrations._api.compat import content_text
from kluster_agents.integrations.emulator._model.text import estimate_tokens

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITALISED = re.compile(r"\b[A-Z][a-zA-Z]{2,}\b")
_CERTAINTY = re.compile(
    r"(\b100%|\b(?:always|never|definitely|scientifically proven|guaranteed|yes, my friend)\b)", re.I
)
_KNOWN_FALSE = (
    re.compile(r"earth is flat|flat earth", re.I),
    re.compile(r"great wall.*visible from space", re.I),
    re.compile(r"eiffel tower.*\b(rome|london|berlin)\b", re.I),
    re.compile(r"vitamin c.*cures?\b", re.I),
)
_SENTENCE_START_WORDS = frozenset({"The", "This", "That", "Yes", "No", "And", "But", "According", "Based", "However"})


class Verifier:
    """Answers Verify requests: recorded (prompt, output) pairs first, then the heuristic."""

    def __init__(self, recorded: Iterable[Mapping[str, Any]] = ()) -> None:
        self._recorded = {(r["prompt"], r["output"]): dict(r["response"]) for r in recorded}

    def check(
        self, prompt: str, output: str, context: str | None = None, return_search_results: bool = False
    ) -> dict[str, Any]:
        """The `/v1/verify/reliability` response body for one check."""
        recorded = self._recorded.get((prompt, output))
        if recorded is not None:
            return {**recorded, "search_results": recorded.get("search_results", []) if return_search_results else []}
        flagged, explanation = _judge(prompt, output, context)
        prompt_tokens = estimate_tokens(prompt + (context or "") + output) + 1000
        completion_tokens = estimate_tokens(explanation)
        return {
            "is_hallucination": flagged,
            "explanation": explanation,
            "search_results": [] if not return_search_results else _search_results(output),
            "usage": {
                "completion_tokens": completion_tokens,
                "prompt_tokens": prompt_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def check_conversation(self, messages: list[Mapping[str, Any]]) -> dict[str, Any]:
        """Chat-completion Verify: the last assistant turn checked against the last user turn;
        system messages are treated as context only when they look like reference material."""
        prompt = output = ""
        for message in messages:
            if message.get("role") == "user":
                prompt = content_text(message.get("content"))
            elif message.get("role") == "assistant":
                output = content_text(message.get("content"))
        return self.check(prompt, output)


def _judge(prompt: str, output: str, context: str | None) -> tuple[bool, str]:
    output = _without_echo(prompt, output)
    if context:
        support = _normalise(f"{context}\n{prompt}")
        missing = [t for t in _claims(output) if not _supported(t, support)]
        if missing:
            return True, (
                f"[emulated] The response mentions {', '.join(missing[:5])}, which the provided context "
                "does not contain (heuristic check by the kluster emulator, not the real Verify service)."
            )
        return False, (
            "[emulated] Every number and name in the response appears in the provided context "
            "(heuristic check by the kluster emulator)."
        )
    claim = f"{prompt} {output}"
    if any(p.search(output) or (p.search(claim) and _affirms(output)) for p in _KNOWN_FALSE):
        return (
            True,
            "[emulated] The response repeats a well-known false claim (heuristic check by the kluster emulator).",
        )
    if _CERTAINTY.search(output):
        return True, (
            "[emulated] The response states an absolute certainty that general knowledge does not support "
            "(heuristic check by the kluster emulator)."
        )
    return False, "[emulated] No reliability issue found by the kluster emulator's heuristic check."


def _without_echo(prompt: str, output: str) -> str:
    """The output without the emulator's marker and without any verbatim copy of the prompt."""
    text = output.replace("[emulated]", " ")
    if prompt.strip() and len(prompt.strip()) > 3:
        text = text.replace(prompt.strip(), " ")
    return text


def _normalise(text: str) -> str:
    """Lower case, and numbers without thousands separators (so "1,250" supports "1250")."""
    return re.sub(r"(?<=\d),(?=\d{3})", "", text.lower())


def _supported(claim: str, support: str) -> bool:
    claim = _normalise(claim)
    if _NUMBER.fullmatch(claim):
        return re.search(rf"(?<![\d.]){re.escape(claim)}(?![\d])", support) is not None
    return claim in support


def _affirms(output: str) -> bool:
    return bool(re.match(r"\s*(yes|correct|true|indeed)\b", output, re.I))


def _claims(output: str) -> list[str]:
    """Numbers, and capitalised names inside sentences (not sentence starts, labels or emphasis)."""
    names = []
    for match in _CAPITALISED.finditer(output):
        word, start, end = match.group(), match.start(), match.end()
        at_start = start == 0 or re.search(r"[.!?:\n]\s*$", output[:start]) is not None
        if word in _SENTENCE_START_WORDS or at_start or word.isupper() or output[end : end + 1] == ":":
            continue
        names.append(word)
    return list(dict.fromkeys([*_NUMBER.findall(output), *names]))


def _search_results(output: str) -> list[dict[str, str]]:
    return [
        {
            "title": "[emulated] no web search in the emulator",
            "link": "https://example.com/emulated",
            "snippet": output[:120],
        }
    ]
