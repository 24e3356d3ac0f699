"""Every example in the README and the docs pages that shows its output runs as written, offline, and
prints that output: a user's first copy-paste must work, and a changed behaviour must show up as a
changed page."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CASSETTE_EXAMPLE = ROOT / "tests" / "cassettes" / "readme_example.py"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
PORT = re.compile(r"127\.0\.0\.1:\d+")
# The examples run side by side in fresh processes, each importing its framework: on a loaded machine that
# takes minutes, so the module gets more than the default 300 s.
pytestmark = pytest.mark.timeout(900)


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced blocks of a Markdown text, as (language, body)."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def examples(page: Path) -> dict[str, tuple[str, str]]:
    """Each Python block directly followed by a `text` block: its source and the output it shows."""
    found = blocks(page.read_text(encoding="utf-8"))
    pairs = {}
    for (lang, source), (next_lang, output) in itertools.pairwise(found):
        if lang == "python" and next_lang == "text":
            pairs[f"{page.stem}-{len(pairs)}"] = (source, output)
    return pairs


README_EXAMPLES = examples(README)
EXAMPLES = {**README_EXAMPLES, **{k: v for page in sorted(DOCS.glob("*.md")) for k, v in examples(page).items()}}


def test_the_readme_shows_an_example_per_framework() -> None:
    imports = "\n".join(source for source, _ in README_EXAMPLES.values())
    for adapter in ("langchain", "litellm", "crewai", "pydantic_ai"):
        assert f"from kluster_agents.adapters.{adapter} import" in imports
    assert len(README.read_text(encoding="utf-8").splitlines()) < 250


def test_the_cassette_example_is_the_one_the_plugin_tests_run() -> None:
    """tests/cassettes/test_plugin.py records and replays tests/cassettes/readme_example.py."""
    shown = [source for lang, source in blocks(README.read_text(encoding="utf-8")) if "kluster_cassette(" in source]
    run = CASSETTE_EXAMPLE.read_text(encoding="utf-8").split("\n", 1)[1]  # without its comment line
    assert shown == [run]


@pytest.fixture(scope="module")
def runs(script_runner: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run every example at once as a user would (`python example.py`, no KLUSTER_* set)."""
    scratch = tmp_path_factory.mktemp("readme")
    scripts = {}
    for name, (source, _) in EXAMPLES.items():
        scripts[name] = scratch / f"{name}.py"
        scripts[name].write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KLUSTER_", "CREWAI_STORAGE"))}
    env["CREWAI_STORAGE_DIR"] = str(scratch / "crewai")
    return script_runner.run(dict(scripts), env=env, cwd=scratch, timeout=800)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_example_prints_what_the_page_shows(name: str, runs: dict[str, Any]) -> None:
    run = runs[name]
    assert run.returncode == 0, run.stderr[-3000:]
    shown = PORT.sub("127.0.0.1:PORT", EXAMPLES[name][1])
    assert PORT.sub("127.0.0.1:PORT", run.stdout) == shown, run.stderr[-2000:]


def test_the_readme_links_point_at_files_that_exist() -> None:
    links = re.findall(r"\]\(([^)#:]+)\)", README.read_text(encoding="utf-8"))
    assert links
    assert [link for link in links if not (ROOT / link).exists()] == []
