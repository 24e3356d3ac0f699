"""Each recipe in recipes/litellm runs offline (no KLUSTER_* set) on the built-in emulator.

The scripts start together in one module fixture (forked from a process that imported LiteLLM once)
and every test checks its own script's output."""

from __future__ import annotations

import os
from typing import Any

import pytest

from .conftest import ROOT

RECIPES = ROOT / "recipes" / "litellm"
EXPECTED = {
    "completion_streaming": [
        "model info: context 131000",
        "completion: [emulated]",
        "stream: [emulated]",
        "acompletion: [emulated]",
        "refused before any request was sent",
    ],
    "router_fallbacks": [
        "rpm=600, max_parallel_requests=100",
        "call 2: answered by klusterai/Meta-Llama-3.1-8B",
        "HTTP statuses seen by the emulator: [200, 429, 200]",
    ],
    "rag_embeddings": [
        "indexed 4 documents: 1024 dims, 80 tokens",
        "retrieved: The Python programming language was created by Guido van Rossum.\nretrieved:",
        "answer: [emulated] reply to: Who created the Python language?",
    ],
    "tool_calling": [
        "model called multiply({'a': 1337, 'b': 42}) -> 56154",
        "returned: 56154",
        "supports function calling: False",
        "refused before the network: 'tools'",
    ],
    "batch_api": [
        "batch completed: 3 completed, 0 failed",
        "q2: [emulated] reply to: What colour is the sky?",
        "ModelResponse for 'What colour is the sky?'",
    ],
    "verify_guardrail": [
        "answer: [emulated] reply to: Where is the Eiffel Tower?",
        "verify: reliable (emulated=True)",
        "0 flagged",
    ],
}


@pytest.fixture(scope="module")
def runs(script_runner: Any) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    env["OPENAI_API_KEY"] = "sk-not-for-kluster"
    return script_runner.run({name: RECIPES / f"{name}.py" for name in EXPECTED}, env=env, cwd=ROOT, timeout=280)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_runs_offline(runs, name):
    run = runs[name]
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith("No KLUSTER_API_KEY set: using the built-in kluster emulator (emulated responses) at ")
    for expected in EXPECTED[name]:
        assert expected in run.stdout, f"{expected!r} missing from:\n{run.stdout}"
    assert "sk-not-for-kluster" not in run.stdout + run.stderr


def test_every_recipe_is_tested_and_documented():
    scripts = {p.stem for p in RECIPES.glob("*.py")}
    assert scripts == set(EXPECTED)
    readme = (RECIPES / "README.md").read_text()
    assert all(f"{name}.py" in readme for name in scripts)
