"""LangChain inherits the client-side tier limits with no adapter code: 24 concurrent
`ainvoke`s and a threaded `.batch()` against a 3-in-flight emulator limit, no retries, 0 errors."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("langchain_openai")

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations.emulator._server.server import Emulator

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
LIMIT, CALLS = 3, 24


def _chat(emulator: Emulator, **extra: object) -> ChatKluster:
    emulator.controls.enable_rate_limits(concurrency=LIMIT)
    emulator.controls.add_latency(0.05, path="/chat/completions")
    settings = KlusterSettings(base_url=emulator.base_url, api_key=emulator.api_key, client_concurrency=LIMIT, **extra)
    return ChatKluster(model=MODEL, kluster_settings=settings, max_retries=0)


async def test_concurrent_ainvoke_gets_no_429(kluster_emulator: Emulator) -> None:
    chat = _chat(kluster_emulator)
    results = await asyncio.gather(*(chat.ainvoke(f"q{i}") for i in range(CALLS)), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert kluster_emulator.controls.count("/chat/completions") == CALLS


def test_threaded_batch_gets_no_429(kluster_emulator: Emulator) -> None:
    chat = _chat(kluster_emulator)
    results = chat.batch([f"q{i}" for i in range(CALLS)], config={"max_concurrency": 12}, return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []


def test_without_client_limits_the_same_load_fails(kluster_emulator: Emulator) -> None:
    chat = _chat(kluster_emulator, client_rate_limit=False)
    results = chat.batch([f"q{i}" for i in range(CALLS)], config={"max_concurrency": 12}, return_exceptions=True)
    assert any(isinstance(r, BaseException) for r in results)
