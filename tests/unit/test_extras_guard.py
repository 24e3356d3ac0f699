"""`require()` translates only a missing framework into "install the extra"; any other import
error inside the framework surfaces as it is (a broken framework install must not read as a missing extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kluster_agents.integrations.api.extras import require


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith(("ka_fake_", "ka_missing_"))]:
        del sys.modules[name]


def _package(root: Path, name: str, body: str) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(body)


def test_missing_package_names_the_extra(packages: Path) -> None:
    with pytest.raises(ImportError, match=r'pip install "kluster-agents\[litellm\]"') as info:
        require("ka_missing_framework", "litellm")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    with pytest.raises(ImportError, match="kluster-agents\\[litellm\\]"):
        require("ka_missing_framework.sub", "litellm")  # its parent is what is missing


def test_missing_dependency_inside_the_framework_surfaces_unchanged(packages: Path) -> None:
    _package(packages, "ka_fake_framework", "import ka_missing_dependency_of_it\n")
    with pytest.raises(ModuleNotFoundError, match="ka_missing_dependency_of_it") as info:
        require("ka_fake_framework", "litellm")
    assert "kluster-agents[" not in str(info.value)


def test_other_import_errors_inside_the_framework_surface_unchanged(packages: Path) -> None:
    _package(packages, "ka_fake_broken", "from json import no_such_name\n")
    with pytest.raises(ImportError, match="no_such_name") as info:
        require("ka_fake_broken", "crewai")
    assert "kluster-agents[" not in str(info.value)
    _package(packages, "ka_fake_raises", "raise RuntimeError('broken at import')\n")
    with pytest.raises(RuntimeError, match="broken at import"):
        require("ka_fake_raises", "crewai")


def test_installed_package_is_returned(packages: Path) -> None:
    _package(packages, "ka_fake_ok", "VALUE = 42\n")
    assert require("ka_fake_ok", "langchain").VALUE == 42
