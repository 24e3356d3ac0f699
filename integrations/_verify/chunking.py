"""The requests of one Verify check: a context too long for the Verify model's window (estimated
cheaply as chars/3, deliberately pessimistic) is either refused (`long_context="refuse"`) or split
into overlapping chunks (`"chunk"`, the default), one request each; chunks overlap by 10% so a fact
cut at a boundary survives. How their verdicts combine is `client.combine_chunk_results`.
"""

from __future__ import annotations

from typing import Any, Literal

from kluster_agents.integrations._api.catalog import VERIFY_MODEL
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError

LongContextMode = Literal["chunk", "refuse"]

CHARS_PER_TOKEN = 3  # pessimistic (English averages ~4): over-estimating keeps us under the limit
RESERVED_TOKENS = 2_000  # Verify's own instructions, search results and explanation
MIN_CHUNK_TOKENS = 500
CHUNK_OVERLAP = 0.10


def estimate_tokens(text: str | None) -> int:
    """Cheap, pessimistic token estimate (no tokenizer download)."""
    return 0 if not text else len(text) // CHARS_PER_TOKEN + 1


def split_context(text: str, max_chars: int, overlap: float = CHUNK_OVERLAP) -> list[str]:
    """Split `text` into chunks of at most `max_chars`, cutting at paragraph, line, sentence or
    word boundaries where possible; consecutive chunks overlap by `overlap` of `max_chars`."""
    if len(text) <= max_chars:
        return [text]
    step_back = int(max_chars * overlap)
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + max_chars, len(text))
        if end < len(text):
            window = text[start:end]
            for sep in ("\n\n", "\n", ". ", " "):
                cut = window.rfind(sep, max_chars // 2)
                if cut > 0:
                    end = start + cut + len(sep)
                    break
        chunks.append(text[start:end])
        if end >= len(text):
            break
        overlap_start = max(end - step_back, start + 1)
        word_start = text.find(" ", overlap_start, end)  # begin the overlap on a word boundary
        start = word_start + 1 if word_start != -1 else overlap_start
    return chunks


def request_payloads(
    prompt: str,
    output: str,
    context: str | None,
    return_search_results: bool,
    *,
    limit: int | None,
    tier: str,
    long_context: LongContextMode,
) -> list[dict[str, Any]]:
    """The reliability request bodies of one check: one, or one per context chunk when the context does
    not fit `limit` tokens; refuses what cannot fit (or is not text) before any network call."""
    for name, value in (("prompt", prompt), ("output", output)):
        if not isinstance(value, str) or not value.strip():
            raise KlusterInvalidRequestError(
                f"Verify needs a non-empty `{name}` string, got {value!r:.60}.", parameter=name
            )
    if context is not None and not isinstance(context, str):
        raise KlusterInvalidRequestError("`context` must be a string (join documents first).", parameter="context")
    if context is not None and not context.strip():
        raise KlusterInvalidRequestError(
            "`context` is empty or whitespace: Verify would silently check against the web instead of your "
            "document. Pass the document's text, or context=None to verify against the web on purpose.",
            parameter="context",
        )
    base: dict[str, Any] = {"prompt": prompt, "output": output}
    if return_search_results:
        base["return_search_results"] = True
    fixed = estimate_tokens(prompt) + estimate_tokens(output) + RESERVED_TOKENS
    total = fixed + estimate_tokens(context)
    if limit is None or total <= limit:
        return [{**base, "context": context} if context else base]
    budget = limit - fixed
    if not context or budget < MIN_CHUNK_TOKENS:
        raise KlusterInvalidRequestError(
            f"prompt + output are ~{fixed - RESERVED_TOKENS} tokens, too long for {VERIFY_MODEL}'s "
            f"{limit}-token context on the {tier} tier; verify a shorter excerpt of the answer.",
            parameter="output",
        )
    if long_context == "refuse":
        raise KlusterInvalidRequestError(
            f"context is ~{estimate_tokens(context)} tokens; with prompt and output that exceeds "
            f"{VERIFY_MODEL}'s {limit}-token context on the {tier} tier. Shorten it, or use "
            "VerifyClient(long_context='chunk') to verify against overlapping chunks.",
            parameter="context",
        )
    return [{**base, "context": chunk} for chunk in split_context(context, budget * CHARS_PER_TOKEN)]
