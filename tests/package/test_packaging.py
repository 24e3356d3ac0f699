"""Import hygiene and packaging: the framework-free layer imports no framework."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("langchain", "langchain_core", "langchain_openai", "litellm", "crewai", "pydantic_ai")


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


@pytest.mark.parametrize("statement", ["import kluster_agents.integrations", "import kluster_agents.adapters"])
def test_framework_free_imports(statement: str) -> None:
    loaded = _modules_after(statement)
    assert not loaded & set(FRAMEWORKS), loaded & set(FRAMEWORKS)


def test_every_package_folder_is_declared() -> None:
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in (("integrations", "kluster_agents.integrations"), ("adapters", "kluster_agents.adapters")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]))
    assert found <= declared, f"add to [tool.setuptools].packages: {sorted(found - declared)}"


def test_extras_error_names_the_extra() -> None:
    from kluster_agents.integrations._api.extras import require

    with pytest.raises(ImportError, match=r'pip install "kluster-agents\[crewai\]"'):
        require("crewai_definitely_missing_module", "crewai")
