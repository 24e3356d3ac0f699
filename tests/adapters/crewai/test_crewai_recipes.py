"""Each CrewAI recipe runs offline as a user would run it (a fresh interpreter, no KLUSTER_* set)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
RECIPES = ROOT / "recipes" / "crewai"
BANNER = "No KLUSTER_API_KEY set: using the built-in kluster emulator (emulated responses) at http://127.0.0.1:"


NAMES = ("research_crew", "verified_task", "batch_crew", "rag_embeddings")


@pytest.fixture(scope="module")
def recipe_output(script_runner: Any) -> dict[str, list[str]]:
    """Run the recipes side by side and return their stdout lines after the emulator banner."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KLUSTER_", "CREWAI_", "OTEL_"))}
    env["OPENAI_API_KEY"] = "sk-not-for-kluster"  # must never be used: the recipes talk to the emulator
    runs = script_runner.run({name: RECIPES / f"{name}.py" for name in NAMES}, env=env, cwd=ROOT, timeout=240)
    outputs = {}
    for name, run in runs.items():
        assert run.returncode == 0, f"{name}: {run.stderr[-3000:]}"
        assert "sk-not-for-kluster" not in run.stdout + run.stderr
        lines = run.stdout.splitlines()
        banner = next((i for i, line in enumerate(lines) if line.startswith(BANNER)), None)
        assert banner is not None, (name, lines[:3])
        outputs[name] = lines[banner + 1 :]
    return outputs


def test_every_recipe_has_a_test_and_a_readme_section() -> None:
    readme = (RECIPES / "README.md").read_text()
    recipes = sorted(p.stem for p in RECIPES.glob("*.py"))
    assert recipes == sorted(NAMES)
    assert all(f"recipes/crewai/{name}.py" in readme for name in recipes)


def _own_lines(lines: list[str], *prefixes: str) -> list[str]:
    """The first line starting with each prefix, in that order: the recipe's own lines, found by what
    they say, wherever a warning CrewAI prints to stdout (its event bus, under load) falls between them."""
    found, start = [], 0
    for prefix in prefixes:
        index = next((i for i in range(start, len(lines)) if lines[i].startswith(prefix)), None)
        assert index is not None, f"no line starting with {prefix!r} (in order) in:\n" + "\n".join(lines)
        found.append(lines[index])
        start = index + 1
    return found


def test_research_crew(recipe_output: dict[str, list[str]]) -> None:
    _own_lines(
        recipe_output["research_crew"],
        "[Researcher] [emulated] The tool `lookup_facts` returned: kluster.ai's Batch API takes a JSONL file",
        "[Writer] [emulated] reply to:",
        "chat completions: 3, with native tools: 2",
    )


def test_verified_task_passes_verify_unscripted(recipe_output: dict[str, list[str]]) -> None:
    lines = recipe_output["verified_task"]
    _own_lines(
        lines,
        "attempt 1: reliable -> pass",
        "  Verify: [emulated] Every number and name in the response appears in the provided",
        "final answer: [emulated] reply to:",
        "Verify: 1 checked (0 cached), 0 flagged, 0 unverified",
    )
    assert not any(line.startswith("attempt 2") for line in lines)
    assert any("completed in 1889" in line for line in lines)


def _check_batch_crew(lines: list[str]) -> None:
    """The recipe's own lines, found by what they say: a third-party warning CrewAI prints to stdout
    under load (its event bus's "Event pairing mismatch") may sit anywhere between them."""
    products = ["green tea", "trail shoes", "desk lamp", "fountain pen", "road bike", "wool socks"]
    ours = [line for line in lines if line.startswith(tuple(f"{p}: " for p in products))]
    assert [line.split(":")[0] for line in ours] == products  # input order kept
    for product, line in zip(products, ours, strict=True):
        assert f"tagline for {product}." in line
    assert "6 crew runs, 6 LLM calls, 1 batch job(s) (window sizes [6])" in lines
    # upload, create, then polls until the job is done (as many as the job's observed-like timing takes)
    summary = [
        m for line in lines if (m := re.fullmatch(r"HTTP requests: (\d+) \(real-time chat completions: 0\)", line))
    ]
    assert len(summary) == 1 and int(summary[0].group(1)) >= 4, lines


def test_batch_crew_uses_one_batch_job_and_no_realtime_calls(recipe_output: dict[str, list[str]]) -> None:
    _check_batch_crew(recipe_output["batch_crew"])


def test_batch_crew_check_ignores_crewai_warnings_between_its_lines() -> None:
    lines = [
        *(f"{p}: [emulated] reply to: Write a tagline for {p}." for p in ("green tea", "trail shoes", "desk lamp")),
        "[CrewAIEventsBus] Warning: Event pairing mismatch. 'llm_call_completed' closed 'agent_execution_started'",
        "(expected 'llm_call_started')",
        *(f"{p}: [emulated] reply to: Write a tagline for {p}." for p in ("fountain pen", "road bike", "wool socks")),
        "6 crew runs, 6 LLM calls, 1 batch job(s) (window sizes [6])",
        "[CrewAIEventsBus] Warning: Ending event 'task_completed' emitted with empty scope stack.",
        "HTTP requests: 5 (real-time chat completions: 0)",
    ]
    _check_batch_crew(lines)


def test_rag_embeddings_retrieves_by_vector_and_answers(recipe_output: dict[str, list[str]]) -> None:
    lines = recipe_output["rag_embeddings"]
    _own_lines(
        lines,
        "indexed 4 documents with BAAI/bge-m3",
        "retrieved: The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
        "answer: [emulated] reply to:",
    )
    answer = next(i for i, line in enumerate(lines) if line.startswith("answer: "))
    assert "Question: When was the Eiffel Tower completed?" in "\n".join(lines[answer:])


def test_own_lines_skip_crewai_warnings_between_them() -> None:
    noise = "[CrewAIEventsBus] Warning: Event pairing mismatch. 'llm_call_completed' closed 'agent_execution_started'"
    lines = [noise, "attempt 1: reliable -> pass", noise, "final answer: yes", noise]
    assert _own_lines(lines, "attempt 1", "final answer") == ["attempt 1: reliable -> pass", "final answer: yes"]
    with pytest.raises(AssertionError):
        _own_lines(lines, "final answer", "attempt 1")  # order matters


def test_recipes_switch_crewai_telemetry_off_before_importing_it() -> None:
    for path in RECIPES.glob("*.py"):
        source = path.read_text()
        first_import = source.index("from crewai")
        for name in ("CREWAI_DISABLE_TELEMETRY", "CREWAI_DISABLE_TRACKING"):
            assert -1 < source.find(name) < first_import, (path.name, name)
        assert "OTEL_SDK_DISABLED" not in source, path.name  # a copied recipe must not switch off the user's tracing
