"""Clients for the emulator tests: plain openai SDK clients (sync and async), no retries."""

from __future__ import annotations

import openai
import pytest

from kluster_agents.integrations.emulator._server.server import Emulator


@pytest.fixture
def client(kluster_emulator: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key, max_retries=0)


@pytest.fixture
def aclient(kluster_emulator: Emulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key, max_retries=0)


@pytest.fixture
def controls(kluster_emulator: Emulator):
    return kluster_emulator.controls
