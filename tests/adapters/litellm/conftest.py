"""Shared setup for the LiteLLM adapter tests: quiet, offline LiteLLM and a registered provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

litellm = pytest.importorskip("litellm")

from kluster_agents.adapters.litellm import register  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
LLAMA_8B = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
GEMMA = "google/gemma-3-27b-it"  # no tools in the catalog
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


HI = {  # a chat completion answering "hi", for mocked transports
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": LLAMA,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


@pytest.fixture(autouse=True)
def _offline_litellm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Streams without usage make LiteLLM count tokens; for Llama names it would download a tokenizer.
    monkeypatch.setattr(litellm, "disable_hf_tokenizer_download", True)
    monkeypatch.setattr(litellm, "suppress_debug_info", True)
    register()
    yield


@pytest.fixture
def emulator(kluster_emulator_env):
    """The emulator with KLUSTER_BASE_URL/KLUSTER_API_KEY pointing at it."""
    return kluster_emulator_env


def chat_bodies(emulator) -> list[dict]:
    """Bodies of the chat completions the emulator received."""
    return [r.body for r in emulator.controls.requests if r.path == "/v1/chat/completions"]
