"""What the console script loads before it answers: `--version` needs neither typer, rich nor the API layer,
`emulate` starts without the other commands, and only `--help` or an adapter's name scans the installed
distributions for adapter commands. Each case runs the real entry point in a fresh interpreter and reads
`sys.modules` (the timings are in `tests/benchmarks/test_startup.py`)."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

from kluster_agents.integrations import __version__

# Runs the console script's `main` with `argv`, counting entry-point scans, then prints what was loaded.
PROBE = """
import importlib.metadata, json, sys
scans = []
real = importlib.metadata.entry_points
importlib.metadata.entry_points = lambda **kw: scans.append(kw.get("group")) or real(**kw)
sys.argv = ["kluster-agents", *json.loads(sys.argv[1])]
from kluster_agents.integrations._cli import main
try:
    main()
except SystemExit:
    pass
print("\\n" + json.dumps({"modules": sorted(sys.modules), "scans": scans}))
"""


def _run(*args: str) -> tuple[str, list[str], list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    output, _, report = out.rstrip("\n").rpartition("\n")
    loaded = json.loads(report)
    return output, loaded["modules"], loaded["scans"]


def _top(modules: list[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_version_answers_without_the_cli_stack_or_the_api_layer() -> None:
    output, modules, scans = _run("--version")
    assert output.strip() == f"kluster-agents {__version__}"
    assert not _top(modules) & {"typer", "click", "rich", "openai", "httpx", "pydantic", "pydantic_settings"}
    assert scans == []
    # nor the distribution metadata (the probe above imports it itself to count scans)
    plain = "import sys; from kluster_agents.integrations._cli import main; main(); print('importlib.metadata' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", plain, "--version"], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    assert out.split() == ["kluster-agents", __version__, "False"]


def test_emulate_starts_without_building_the_other_commands() -> None:
    output, modules, scans = _run("emulate", "--help")
    assert "kluster-agents emulate [OPTIONS]" in output and "--timing" in output
    assert "kluster_agents.integrations._cli.app" not in modules
    assert "kluster_agents.integrations._cli.batch" not in modules and scans == []


def test_a_core_command_does_not_scan_for_adapter_commands() -> None:
    output, _, scans = _run("models", "--help")
    assert "--refresh" in output and scans == []


def test_help_still_lists_the_adapter_commands() -> None:
    output, _, scans = _run("--help")
    assert "litellm-config" in output and "needs the litellm extra" in output
    assert scans == ["kluster_agents.cli"]


def test_the_packaged_version_is_the_source_version() -> None:
    assert importlib.metadata.version("kluster-agents") == __version__
