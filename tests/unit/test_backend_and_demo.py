"""The README's first command (`kluster-agents demo`) and the recipes' backend selection."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kluster_agents.integrations import KlusterSettings
from kluster_agents.integrations._backend import kluster_backend


def test_without_key_the_emulator_is_started_and_announced() -> None:
    lines: list[str] = []
    with kluster_backend(announce=lines.append) as backend:
        assert backend.emulated and backend.emulator is not None
        assert os.environ["KLUSTER_BASE_URL"] == backend.emulator.base_url == backend.settings.base_url
        assert os.environ["KLUSTER_API_KEY"] == backend.emulator.api_key
    assert lines[0].startswith("No KLUSTER_API_KEY set: using the built-in kluster emulator (emulated responses)")
    assert "KLUSTER_BASE_URL" not in os.environ and "KLUSTER_API_KEY" not in os.environ  # restored


def test_with_key_the_real_api_is_used() -> None:
    lines: list[str] = []
    key = "kl-real-key-0123456789"
    with kluster_backend(KlusterSettings(api_key=key), announce=lines.append) as backend:
        assert not backend.emulated and backend.settings.base_url == "https://api.kluster.ai/v1"
    assert "KLUSTER_API_KEY is set" in lines[0] and key not in lines[0]


@pytest.mark.timeout(120)
def test_demo_runs_offline_and_says_it_is_emulated(script_runner: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    env["COLUMNS"] = "200"
    module = "kluster_agents.integrations._cli.app"  # python -m kluster_agents.integrations._cli.app demo
    proc = script_runner.run({"demo": module}, module=True, args=["demo"], env=env, cwd=tmp_path, timeout=110)["demo"]
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert out.splitlines()[0].startswith("No KLUSTER_API_KEY set: using the built-in kluster emulator")
    assert "[emulated] reply to: In one sentence: what is kluster.ai?" in out
    assert out.count(": succeeded: [emulated] reply to: Classify the sentiment") == 3
    assert "-> reliable:" in out and "-> HALLUCINATION:" in out and "1925" in out
    assert "All responses above were emulated" in out
