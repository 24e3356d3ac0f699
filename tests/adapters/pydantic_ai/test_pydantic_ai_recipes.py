"""Every PydanticAI recipe runs offline (no key: the built-in emulator) and prints what it promises."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
RECIPES = ROOT / "recipes" / "pydantic_ai"
EXPECTED = {
    "typed_extraction.py": ["(tool output): Invoice(", "(prompted output): Invoice("],
    "tool_agent.py": ["tools called: ['check_stock']", "42 units of widget"],
    "verified_answer.py": [
        "answer: [emulated] reply to: How many days per week can I work from home?",
        "verdict: reliable",
        "0 flagged",
    ],
    "mcp_verify_toolset.py": ["MCP tool verify -> is_hallucination=True", "answer:"],
    "rag_embeddings.py": [
        "indexed 4 documents: 1024 dims, 80 tokens",
        "retrieved (0.43): Mount Everest",  # nearest vector first
        "answer: [emulated] reply to: What is the highest mountain in the world?",
    ],
    "batch_run.py": ["0: Review(", "1: Review(", "2: ERROR KlusterUnsupportedError", "3: Review("],
}


def test_every_recipe_is_covered() -> None:
    assert {p.name for p in RECIPES.glob("*.py")} == set(EXPECTED)


@pytest.fixture(scope="module")
def runs(script_runner: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the recipes side by side, each as a user would (no KLUSTER_* set), in a scratch directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    cwd = tmp_path_factory.mktemp("pydantic-ai-recipes")
    return script_runner.run({name: RECIPES / name for name in EXPECTED}, env=env, cwd=cwd, timeout=120)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_runs_offline(name: str, runs: dict[str, Any]) -> None:
    proc = runs[name]
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("No KLUSTER_API_KEY set: using the built-in kluster emulator")
    for expected in EXPECTED[name]:
        assert expected in proc.stdout, proc.stdout
