"""The compatibility page is rendered from the compat rules, never hand-edited: a changed rule changes the page."""

from __future__ import annotations

from kluster_agents.integrations._api.compat import PARAM_RULES

from ._compat_table import DOCS_PAGE, render_page


def test_the_compatibility_page_is_current() -> None:
    assert DOCS_PAGE.read_text(encoding="utf-8") == render_page(), (
        "docs/compatibility.md is stale: run `uv run python tests/docs/_compat_table.py`"
    )


def test_every_rule_has_a_row() -> None:
    page = render_page()
    assert all(f"| `{param}` |" in page for param in PARAM_RULES)
