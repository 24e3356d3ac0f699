"""Fixtures for the fault suites: kluster clients (no SDK retries unless a test asks) on the emulator."""

from __future__ import annotations

import pytest

from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.kluster_openai import AsyncKlusterOpenAI, KlusterOpenAI
from kluster_agents.integrations.emulator._control.controls import EmulatorControls
from kluster_agents.integrations.emulator._server.server import Emulator

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(autouse=True)
def _no_stream_usage_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faults are armed for the next request: keep the stream-usage probe (a first request asking for
    `stream_options` that the emulator refuses) from taking them. Usage is estimated instead."""
    monkeypatch.setenv("KLUSTER_STREAM_USAGE", "estimate")


@pytest.fixture
def controls(kluster_emulator: Emulator) -> EmulatorControls:
    return kluster_emulator.controls


@pytest.fixture
def kclient(kluster_emulator: Emulator) -> KlusterOpenAI:
    return make_client(kluster_emulator.settings, max_retries=0)


@pytest.fixture
def akclient(kluster_emulator: Emulator) -> AsyncKlusterOpenAI:
    return make_async_client(kluster_emulator.settings, max_retries=0)
