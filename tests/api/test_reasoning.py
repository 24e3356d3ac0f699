"""The one `<think>` splitter every adapter uses: whole replies and streams cut anywhere."""

from __future__ import annotations

import pytest

from kluster_agents.integrations._api.reasoning import ThinkSplitter, split_reasoning

REPLY = "<think>\nFirst, recall Rayleigh scattering.\n</think>\n\nBecause of Rayleigh scattering."


def test_split_reasoning_takes_the_block_out_of_the_answer() -> None:
    split = split_reasoning(REPLY)
    assert split.reasoning == "First, recall Rayleigh scattering."
    assert split.content == "Because of Rayleigh scattering."


@pytest.mark.parametrize(
    ("text", "reasoning", "content"),
    [
        ("plain answer", None, "plain answer"),
        ("", None, ""),
        ("opened by the template</think>answer", "opened by the template", "answer"),
        ("<think>cut off while thinking", "cut off while thinking", ""),
        ("answer mentioning <think> later", None, "answer mentioning <think> later"),
    ],
)
def test_split_reasoning_edge_cases(text: str, reasoning: str | None, content: str) -> None:
    split = split_reasoning(text)
    assert (split.reasoning, split.content) == (reasoning, content)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_stream_splitter_gives_the_same_split_for_any_chunking(size: int) -> None:
    splitter = ThinkSplitter()
    reasoning, content = "", ""
    for start in range(0, len(REPLY), size):
        r, c = splitter.feed(REPLY[start : start + size])
        reasoning, content = reasoning + r, content + c
    r, c = splitter.flush()
    reasoning, content = reasoning + r, content + c
    assert "<" not in reasoning and "think>" not in content
    assert reasoning.strip() == "First, recall Rayleigh scattering."
    assert content == "Because of Rayleigh scattering."


def test_stream_splitter_passes_plain_text_through() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("Hello ") == ("", "Hello ")
    assert splitter.feed("world") == ("", "world")
    assert splitter.flush() == ("", "")
