"""Every PydanticAI recipe runs offline (no key: the built-in emulator) and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_runs_offline(name: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    proc = subprocess.run(
        [sys.executable, str(RECIPES / name)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("No KLUSTER_API_KEY set: using the built-in kluster emulator")
    for expected in EXPECTED[name]:
        assert expected in proc.stdout, proc.stdout
