"""Each LangChain recipe runs as a script (as a user would), offline on the emulator, and
prints what its README shows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
RECIPES = ROOT / "recipes" / "langchain"
EMULATOR_LINE = "No KLUSTER_API_KEY set: using the built-in kluster emulator (emulated responses) at http://127.0.0.1:"

EXPECTED = {
    "chat_streaming": [
        "answer: [emulated] reply to: One fact about Kathmandu?",
        "usage: {'input_tokens':",
        "streamed: [emulated] reply to: Name three rivers of Nepal.",
        "stream usage (estimated):",
        "async: [emulated] reply to: Capital of Nepal?",
        "async: [emulated] reply to: Capital of Peru?",
    ],
    "tool_agent": [
        "model called get_weather({'city': 'Paris'})",
        "get_weather -> 18 °C in Paris",
        "model called celsius_to_fahrenheit({'celsius': 18})",
        "celsius_to_fahrenheit -> 64.4 °F",
        "answer: [emulated] The tool `get_weather` returned: 18 °C in Paris; "
        "the tool `celsius_to_fahrenheit` returned: 64.4 °F",
        "model turns: 3",
    ],
    "rag_verified": [
        "answer: [emulated] reply to: How tall is the Eiffel Tower?",
        "verify: reliable after 0 retries",
        "Verify: 1 checked (0 cached), 0 flagged",
    ],
    "batch_classify_csv": [
        " 1  billing          urgent=True  | I was charged twice",  # the emulated model picks the first label
        " 6  billing          urgent=True  | Can you add dark mode",
        "6 rows -> 1 Batch API job, 0 real-time calls",
    ],
    "rag_embeddings": [
        "indexed 4 documents with BAAI/bge-m3 (1024 dims)",
        "retrieved (0.41): Photosynthesis lets plants",  # nearest vector first
        "answer: [emulated] reply to: How do plants make sugar from sunlight?",
    ],
    "structured_extraction": [
        "(tool calling):",
        "(prompted JSON):",
        "parsing_error: None",
        "parsed: Invoice(vendor='Acme GmbH', amount_eur=1250.0, due_date='2025-03-31')",
    ],
}


@pytest.fixture(scope="module")
def recipe_runs(script_runner: Any) -> dict[str, Any]:
    """Run every recipe at once (each is mostly waiting), as a user would run it: no KLUSTER_* set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    return script_runner.run({name: RECIPES / f"{name}.py" for name in EXPECTED}, env=env, cwd=ROOT, timeout=180)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_runs_offline(name: str, recipe_runs: dict[str, Any]) -> None:
    out, err = recipe_runs[name].stdout, recipe_runs[name].stderr
    assert recipe_runs[name].returncode == 0, err[-3000:]
    assert out.splitlines()[0].startswith(EMULATOR_LINE)
    for expected in EXPECTED[name]:
        assert expected in out, f"{expected!r} not in output:\n{out}"
    assert "Traceback" not in out


def test_every_recipe_has_a_test_and_a_readme_section() -> None:
    scripts = {p.stem for p in RECIPES.glob("*.py")}
    assert scripts == set(EXPECTED)
    readme = (RECIPES / "README.md").read_text(encoding="utf-8")
    assert all(f"recipes/langchain/{name}.py" in readme for name in scripts)
