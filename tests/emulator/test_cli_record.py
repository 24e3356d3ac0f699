"""The `emulate` banner, the Emulator object itself, and the re-record script (against the
emulator standing in for the live API, writing to a temporary folder)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from kluster_agents.integrations.emulator import Emulator
from kluster_agents.integrations.emulator._server.emulate_command import banner

TOOL = Path(__file__).resolve().parents[2] / "tools" / "record_exchanges.py"
_spec = importlib.util.spec_from_file_location("record_exchanges", TOOL)
assert _spec is not None and _spec.loader is not None
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)  # a maintainers' script outside the package, loaded from its file


def test_banner_says_emulated_and_how_to_connect(kluster_emulator) -> None:
    text = banner(kluster_emulator)
    assert "EMULATED" in text and "NOT the real kluster.ai service" in text
    assert f"export KLUSTER_BASE_URL={kluster_emulator.base_url} KLUSTER_API_KEY={kluster_emulator.api_key}" in text


def test_standalone_emulator_binds_loopback_with_own_key_and_state(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KLUSTER_EMULATOR_KEY", "custom-key-123")
    with Emulator(mode="lenient", tier="trial", state_path=tmp_path / "state.db") as emulator:
        assert emulator.base_url.startswith("http://127.0.0.1:") and emulator.base_url.endswith("/v1")
        assert emulator.api_key == "custom-key-123"
        settings = emulator.settings
        assert settings.base_url == emulator.base_url and settings.tier.value == "trial"
        assert "custom-key-123" not in repr(settings) + repr(emulator)
    assert (tmp_path / "state.db").exists()
    assert "KLUSTER_BASE_URL" not in os.environ


def test_env_fixture_sets_variables_for_the_test_only(kluster_emulator_env) -> None:
    assert os.environ["KLUSTER_BASE_URL"] == kluster_emulator_env.base_url


def test_record_without_key_exits_with_message(monkeypatch, capsys) -> None:
    monkeypatch.delenv("KLUSTER_API_KEY", raising=False)
    assert record.main() == 2
    assert "KLUSTER_API_KEY is not set" in capsys.readouterr().err


@pytest.mark.kluster_emulator(mode="lenient")
def test_record_scrubs_key(kluster_emulator, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(record, "RECORDED_DIR", tmp_path)
    kluster_emulator.runtime.store.put("mcp", {"id": "endpoint", "enabled": True, "token": "tok-secret-456"})
    names = record.record(kluster_emulator.api_key, kluster_emulator.base_url)
    assert set(names) == set(record.RERECORDED)
    for path in tmp_path.glob("*.json"):
        text = path.read_text()
        assert kluster_emulator.api_key not in text and "tok-secret-456" not in text
        assert json.loads(text)["source"]["recorded_live"] is True
