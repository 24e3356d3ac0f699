"""The tree is the architecture: layered rooms in `integrations/`, no cycles, no adapter imports in the core,
and recipes that import only the public API (never the emulator).

Imports are read statically (including lazy, function-level ones), so a cycle held together by lazy
imports still fails here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "integrations"

# Floors from the ground: a room may import its own floor's modules only within itself, and lower floors.
FLOORS = {
    "_version": 0,
    "_lazy": 0,
    "_api": 1,
    "_jobs": 2,
    "_verify": 2,
    "mcp": 3,
    "emulator": 4,
    "testing": 5,  # the pytest plugin, on top of the emulator
    "_backend": 5,
    "_cli": 6,
    "__init__": 7,  # the core's one public path for every name
}


def _imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["kluster_agents", "integrations"]:
        return None
    if len(parts) == 2:
        return "__init__"
    return parts[2] if parts[2] in FLOORS else None


def _room_edges() -> set[tuple[str, str]]:
    edges = set()
    for path in CORE.rglob("*.py"):
        rel = path.relative_to(CORE).with_suffix("")
        source = rel.parts[0]
        for module in _imported_modules(path):
            target = _room_of(module)
            if target and target != source and target != "__init__":
                edges.add((source, target))
    return edges


def test_every_core_room_has_a_floor() -> None:
    rooms = {
        p.stem if p.is_file() else p.name for p in CORE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert rooms <= set(FLOORS), f"give these a floor in FLOORS: {sorted(rooms - set(FLOORS))}"


def test_few_modules_directly_in_integrations() -> None:
    modules = sorted(p.name for p in CORE.glob("*.py"))
    assert len(modules) <= 10, modules


@pytest.mark.parametrize(("source", "target"), sorted(_room_edges()))
def test_rooms_only_import_lower_floors(source: str, target: str) -> None:
    assert FLOORS[target] < FLOORS[source], (
        f"{source} (floor {FLOORS[source]}) imports {target} (floor {FLOORS[target]})"
    )


def test_core_imports_no_adapter_and_no_framework() -> None:
    frameworks = ("langchain", "langchain_core", "langchain_openai", "litellm", "crewai", "pydantic_ai")
    offenders = [
        (str(path.relative_to(ROOT)), module)
        for path in CORE.rglob("*.py")
        for module in _imported_modules(path)
        if module.startswith("kluster_agents.adapters") or module.split(".")[0] in frameworks
    ]
    assert offenders == []


def _package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its `__init__`)."""
    modules = {}
    for folder, package in ((CORE, "kluster_agents.integrations"), (ROOT / "adapters", "kluster_agents.adapters")):
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = parts[:-1] if parts[-1] == "__init__" else parts
            modules[".".join((package, *name))] = path
    return modules


def _module_edges(modules: dict[str, Path]) -> set[tuple[str, str]]:
    """(importer, imported) for every import between two modules of the package. `from pkg import name`
    points at `pkg.name` when that is a module (the name's home), else at `pkg`."""
    edges = set()
    for source, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    for alias in node.names
                ]
            else:
                continue
            edges.update((source, target) for target in targets if target in modules and target != source)
    return edges


def test_no_two_modules_import_each_other() -> None:
    """A two-module cycle makes import order matter (and one side's names half-defined while the other
    loads); lazy and TYPE_CHECKING imports count too, since they hold the same knot."""
    edges = _module_edges(_package_modules())
    cycles = {tuple(sorted(edge)) for edge in edges if edge[::-1] in edges}
    assert cycles == set()


def test_cycle_check_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """The reader follows imports inside functions and `if TYPE_CHECKING:` blocks."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n", encoding="utf-8")
    b.write_text("def f():\n    from pkg import a\n", encoding="utf-8")
    assert _module_edges({"pkg.a": a, "pkg.b": b}) == {("pkg.a", "pkg.b"), ("pkg.b", "pkg.a")}


def test_recipes_import_no_emulator_module() -> None:
    offenders = [
        (str(path.relative_to(ROOT)), module)
        for path in (ROOT / "recipes").rglob("*.py")
        for module in _imported_modules(path)
        if module.startswith("kluster_agents.integrations.emulator")
    ]
    assert offenders == [], "recipes are user code: no emulator imports (the emulator's model answers on its own)"


def _module_graph(folder: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same tree it imports (statically, lazy and TYPE_CHECKING imports included)."""
    modules = {
        ".".join((package, *path.relative_to(folder).with_suffix("").parts)).removesuffix(".__init__"): path
        for path in folder.rglob("*.py")
    }
    return {
        name: {module for module in _imported_modules(path) if module in modules and module not in (name, package)}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([node, *component]))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_emulator_has_no_import_cycles() -> None:
    """Each emulator module can be read (and moved) after the ones it imports: no two import each other."""
    assert _cycles(_module_graph(CORE / "emulator", "kluster_agents.integrations.emulator")) == []
