"""`require()` translates only a missing framework into "install the extra"; any other import
error inside the framework surfaces as it is (a broken framework install must not read as a missing extra)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kluster_agents.integrations._api.extras import require


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


def _without(modules: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter where `modules` cannot be imported (as in an install without
    the extra that brings them)."""
    blocked = "".join(f"sys.modules[{name!r}] = None\n" for name in modules.split())
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    script = f"import sys\n{blocked}{textwrap.dedent(code)}"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)


def test_offline_mode_without_the_testing_extra_says_which_extra_in_one_line() -> None:
    run = _without(
        "fastapi uvicorn",
        """
        from kluster_agents.integrations import KlusterConfigError, kluster_backend
        try:
            with kluster_backend():
                pass
        except KlusterConfigError as exc:
            print(exc)
        """,
    )
    assert run.returncode == 0, run.stderr
    message = run.stdout.strip()
    assert "\\n" not in message and "kluster-agents[testing]" in message and "KLUSTER_API_KEY" in message


def test_the_emulator_and_mcp_name_their_extras() -> None:
    run = _without(
        "fastapi uvicorn mcp fastmcp",
        """
        for statement in (
            "from kluster_agents.integrations.emulator import Emulator",
            "from kluster_agents.integrations.mcp import build_local_server; build_local_server()",
        ):
            try:
                exec(statement)
            except ImportError as exc:
                print(exc)
        """,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "kluster-agents[testing]" in lines[0] and "kluster-agents[mcp]" in lines[1]


def test_the_pytest_plugin_loads_without_the_testing_extra() -> None:
    """The plugin is registered for every pytest run in the environment: it must not break pytest in a
    project that installed kluster-agents without the testing extra."""
    run = _without("fastapi uvicorn", "import kluster_agents.integrations.testing.pytest_plugin\nprint('ok')")
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
