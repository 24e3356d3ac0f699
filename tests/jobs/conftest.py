"""Fixtures for the job layer: a fake kluster API for edge cases, settings aimed at it, a journal per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from kluster_agents.integrations._api.settings import KlusterSettings

from .fake_api import API_KEY, BASE_URL, FakeKluster

MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


def chat(i: int, **extra: object) -> dict[str, object]:
    """A small chat request whose answer names its prompt."""
    return {"model": MODEL, "messages": [{"role": "user", "content": f"prompt {i}"}], **extra}


@pytest.fixture
def fake() -> FakeKluster:
    return FakeKluster()


@pytest.fixture
def fake_settings() -> KlusterSettings:
    return KlusterSettings.load(api_key=API_KEY, base_url=BASE_URL)


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"
