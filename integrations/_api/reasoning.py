"""Reasoning text of R1-style models, split out of the answer — once, for every adapter.

DeepSeek-R1 and the other models whose catalog entry has `reasoning` write their chain of thought
inline, as `<think>…</think>` before the answer (the models' own chat templates; served through an
OpenAI-compatible API without a reasoning parser, the block stays in `content`). Some servers send
a separate `reasoning_content` field instead; adapters take that one as it is. R1-0528's template
opens the block itself, so a reply may also carry only the closing `</think>`.

`split_reasoning` handles a whole reply, `ThinkSplitter` a stream, where a tag may be cut across
chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


@dataclass(frozen=True)
class Split:
    """A reply cut into its reasoning (None when there was none) and its answer."""

    reasoning: str | None
    content: str


def split_reasoning(text: str | None) -> Split:
    r"""`"<think>why</think>\n\nanswer"` -> `Split("why", "answer")`; text without a block is all answer."""
    if not text:
        return Split(None, text or "")
    stripped = text.lstrip()
    if stripped.startswith(OPEN_TAG):
        body = stripped[len(OPEN_TAG) :]
        end = body.find(CLOSE_TAG)
        if end == -1:  # cut off while thinking (e.g. max tokens): everything so far is reasoning
            return Split(body.strip(), "")
        return Split(body[:end].strip(), body[end + len(CLOSE_TAG) :].lstrip())
    end = text.find(CLOSE_TAG)
    if end != -1 and OPEN_TAG not in text[:end]:  # the template opened the block
        return Split(text[:end].strip(), text[end + len(CLOSE_TAG) :].lstrip())
    return Split(None, text)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper start of `tag` (a tag cut by a chunk edge)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkSplitter:
    """Incremental `split_reasoning` for streamed content.

    `feed(piece)` returns `(reasoning_delta, content_delta)`; `flush()` returns what was held back
    at the end. Before the first visible text it waits to see whether a `<think>` block starts;
    leading whitespace between `</think>` and the answer is dropped, as in `split_reasoning`.
    """

    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> answer (or start -> answer)
        self._held = ""

    @property
    def thinking(self) -> bool:
        return self._state == "thinking"

    def feed(self, piece: str | None) -> tuple[str, str]:
        if not piece:
            return "", ""
        self._held += piece
        reasoning, content = [], []
        while self._held:
            if self._state == "start":
                stripped = self._held.lstrip()
                if not stripped:
                    break
                if stripped.startswith(OPEN_TAG):
                    self._held = stripped[len(OPEN_TAG) :]
                    self._state = "thinking"
                    continue
                if OPEN_TAG.startswith(stripped):
                    break  # maybe the start of a tag: wait for more
                self._state = "answer"
                continue
            if self._state == "thinking":
                end = self._held.find(CLOSE_TAG)
                if end == -1:
                    keep = _partial_suffix(self._held, CLOSE_TAG)
                    reasoning.append(self._held[: len(self._held) - keep])
                    self._held = self._held[len(self._held) - keep :]
                    break
                reasoning.append(self._held[:end])
                self._held = self._held[end + len(CLOSE_TAG) :]
                self._state = "after"
                continue
            if self._state == "after":
                stripped = self._held.lstrip()
                self._held = stripped
                if not stripped:
                    break
                self._state = "answer"
                continue
            content.append(self._held)
            self._held = ""
        return "".join(reasoning), "".join(content)

    def flush(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        if self._state == "thinking":
            return held, ""
        return "", held if self._state != "after" else ""


__all__ = ["CLOSE_TAG", "OPEN_TAG", "Split", "ThinkSplitter", "split_reasoning"]
