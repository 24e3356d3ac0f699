"""Adaptive inference through LiteLLM: `adaptive=` (or `extra_body={"kluster_adaptive": ...}`, or
kluster's own metadata in extra_body) returns the real answer, never the queued placeholder."""

from __future__ import annotations

import litellm
import pytest

from kluster_agents.adapters.litellm import LiteLLMKlusterConfigError, LiteLLMKlusterUnsupportedError
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode

from .conftest import LLAMA, chat_bodies

MODEL = f"kluster/{LLAMA}"
HELLO = [{"role": "user", "content": "Say hello"}]


def _sent_metadata(emulator) -> dict:
    return chat_bodies(emulator)[-1]["metadata"]


def _batches(emulator) -> int:
    return sum(1 for r in emulator.controls.requests if "/batches" in r.path)


@pytest.mark.parametrize(
    "option",
    [
        {"adaptive": True},
        {"adaptive": AdaptiveMode(completion_window="1h")},
        {"adaptive": {"completion_window": "1h"}},
        {"extra_body": {"kluster_adaptive": True}},
        {"extra_body": {"metadata": {"@kluster.ai": {"async": True}}}},
    ],
    ids=["true", "mode", "dict", "extra_body-option", "extra_body-metadata"],
)
def test_adaptive_completion_returns_the_real_answer(emulator, option):
    emulator.controls.script("the real answer")
    response = litellm.completion(model=MODEL, messages=HELLO, **option)
    assert response.choices[0].message.content == "the real answer"
    assert _sent_metadata(emulator)["@kluster.ai"]["async"] is True
    assert _batches(emulator) > 0


def test_adaptive_keeps_the_callers_kluster_metadata(emulator):
    emulator.controls.script("answer")
    litellm.completion(
        model=MODEL,
        messages=HELLO,
        adaptive={"completion_window": "1h"},
        extra_body={"metadata": {"team": "search"}},
    )
    sent = _sent_metadata(emulator)
    assert sent["team"] == "search" and sent["@kluster.ai"]["completion_window"] == "1h"


async def test_adaptive_acompletion_returns_the_real_answer(emulator):
    emulator.controls.script("async answer")
    response = await litellm.acompletion(model=MODEL, messages=HELLO, adaptive=True)
    assert response.choices[0].message.content == "async answer"


def test_adaptive_stream_is_refused_before_the_network(emulator):
    with pytest.raises(LiteLLMKlusterUnsupportedError, match="stream") as info:
        litellm.completion(model=MODEL, messages=HELLO, adaptive=True, stream=True)
    assert info.value.model == LLAMA
    assert chat_bodies(emulator) == []


def test_bad_adaptive_option_is_a_config_error(emulator):
    with pytest.raises(LiteLLMKlusterConfigError, match="adaptive"):
        litellm.completion(model=MODEL, messages=HELLO, adaptive={"window": "1h"})
    assert chat_bodies(emulator) == []


def test_litellm_metadata_is_not_sent_to_kluster(emulator):
    """LiteLLM's own `metadata=` is its logging metadata: it never asks kluster for anything."""
    litellm.completion(model=MODEL, messages=HELLO, metadata={"@kluster.ai": {"async": True}})
    assert "metadata" not in chat_bodies(emulator)[-1]
    assert _batches(emulator) == 0
