"""Recipes are the code a user copies: plain framework code plus our adapters, no emulator code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*/*.py"))


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
            modules.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return modules


def test_there_are_recipes() -> None:
    assert len(RECIPES) >= 15


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_has_no_emulator_code(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    emulator_imports = [m for m in _imported_modules(path) if m.startswith("kluster_agents.integrations.emulator")]
    assert emulator_imports == [], emulator_imports
    assert "ToolCall" not in source and ".script(" not in source
    private = [m for m in _imported_modules(path) if any(part.startswith("_") for part in m.split("."))]
    assert private == [], private  # recipes import public paths only
