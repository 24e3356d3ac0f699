"""Smoke test of an installed wheel, run from outside the checkout (by .ci/wheel-smoke) in a fresh
environment that holds kluster-agents with one set of extras and nothing of the source tree.

usage: python smoke_installed.py EXTRAS [RECIPE]   (EXTRAS: "core", "testing", "langchain,testing", ...)
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import runpy
import subprocess
import sys
from importlib import resources
from pathlib import Path


def check(condition: bool, what: str) -> None:
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        sys.exit(1)


def main() -> None:
    extras = set(sys.argv[1].split(","))
    recipe = sys.argv[2] if len(sys.argv) > 2 else None
    os.environ.pop("KLUSTER_API_KEY", None)
    import kluster_agents.integrations as core

    check("site-packages" in (core.__file__ or ""), f"imports the installed wheel ({core.__file__})")
    check(all(getattr(core, name) is not None for name in core.__all__), f"{len(core.__all__)} core names resolve")
    cli = Path(sys.executable).parent / "kluster-agents"  # the environment's console script
    version = subprocess.run([str(cli), "--version"], capture_output=True, text=True)
    check(version.returncode == 0 and core.__version__ in version.stdout, f"CLI: {version.stdout.strip()}")

    has_testing = "testing" in extras
    for module in ("fastapi", "uvicorn"):
        check((importlib.util.find_spec(module) is not None) == has_testing, f"{module} installed: {has_testing}")
    if not has_testing:
        try:
            with core.kluster_backend():
                pass
        except core.KlusterConfigError as exc:
            check("kluster-agents[testing]" in str(exc), f"offline without the emulator: {exc}")
        else:
            check(False, "offline without the emulator must name the testing extra")
    else:
        import httpx

        from kluster_agents.integrations.emulator import Emulator

        recorded = resources.files("kluster_agents.integrations.emulator._cassettes") / "recorded"
        fixtures = [entry.name for entry in recorded.iterdir() if entry.name.endswith(".json")]
        check(bool(fixtures), f"recorded fixtures shipped: {len(fixtures)} files")
        with Emulator() as emulator:
            page = httpx.get(emulator.inspector_url, timeout=30)
            check(page.status_code == 200 and "<html" in page.text.lower(), "inspector page served")

    for framework, module in (("langchain", "langchain_openai"), ("litellm", "litellm"), ("crewai", "crewai")):
        if framework in extras:
            check(importlib.util.find_spec(module) is not None, f"{framework} installed")
            importlib.import_module(f"kluster_agents.adapters.{framework}")
    if recipe:
        print(f"--- {recipe}", flush=True)
        sys.argv = [recipe]
        runpy.run_path(recipe, run_name="__main__")
        check(True, f"recipe {Path(recipe).name} ran offline")


if __name__ == "__main__":
    main()
