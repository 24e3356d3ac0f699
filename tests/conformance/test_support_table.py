"""The docs' support matrix is the table the conformance suite asserts, regenerated, never hand-edited."""

from __future__ import annotations

from ._matrix import DOCS_PAGE, MODELS, render_table


def test_docs_table_is_current() -> None:
    assert DOCS_PAGE.read_text(encoding="utf-8") == render_table(), (
        "docs/conformance.md is stale: run `uv run python tests/conformance/_matrix.py`"
    )


def test_every_chat_model_has_a_row() -> None:
    table = render_table()
    assert len(MODELS) == 12
    assert all(f"`{m.id}`" in table for m in MODELS)
