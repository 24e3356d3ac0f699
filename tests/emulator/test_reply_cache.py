"""The reply engine keeps derived replies per request shape: a repeated request gets the same answer
from the cache, and whatever else shapes the answer (response format, tools, model, max tokens,
scripts, recordings) still does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kluster_agents.integrations._api.catalog import DEFAULT_MODEL, ModelInfo, get_model
from kluster_agents.integrations.emulator._model import replies
from kluster_agents.integrations.emulator._model.replies import Reply, ReplyEngine, ScriptedReplies, request_key
from kluster_agents.integrations.emulator._model.verify_heuristic import Verifier

from .helpers import LLAMA_8B, WEATHER_TOOL, user


@pytest.fixture
def engine() -> ReplyEngine:
    return ReplyEngine(ScriptedReplies(), {}, Verifier())


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The models each derivation ran for (the cache skips them)."""
    seen: list[str] = []
    derive = replies.derived_reply

    def counting(request: Any, info: ModelInfo) -> Reply:
        seen.append(info.id)
        return derive(request, info)

    monkeypatch.setattr(replies, "derived_reply", counting)
    return seen


def test_a_repeated_request_is_derived_once(engine: ReplyEngine, derivations: list[str]) -> None:
    request = {"model": LLAMA_8B, "messages": user("What is the capital of France?")}
    first = engine.reply(request, get_model(LLAMA_8B))
    assert engine.reply(dict(request), get_model(LLAMA_8B)) == first
    assert derivations == [LLAMA_8B]


def test_what_shapes_the_answer_is_part_of_the_key(engine: ReplyEngine, derivations: list[str]) -> None:
    messages = user("Give me a JSON object with the keys name and age for Ada, 36.")
    text = engine.reply({"messages": messages}, get_model(LLAMA_8B))
    json_mode = engine.reply({"messages": messages, "response_format": {"type": "json_object"}}, get_model(LLAMA_8B))
    assert text.content is not None and text.content.startswith("[emulated]")
    assert json_mode.content is not None and set(json.loads(json_mode.content)) == {"name", "age"}

    weather = user("What is the weather in Paris?")
    plain = engine.reply({"messages": weather}, get_model(DEFAULT_MODEL))
    called = engine.reply({"messages": weather, "tools": [WEATHER_TOOL]}, get_model(DEFAULT_MODEL))
    refused = engine.reply(
        {"messages": weather, "tools": [WEATHER_TOOL], "tool_choice": "none"}, get_model(DEFAULT_MODEL)
    )
    assert plain.tool_calls == () and refused.tool_calls == ()
    assert [c.name for c in called.tool_calls] == ["get_weather"]
    assert len(derivations) == 5


def test_max_tokens_cuts_the_cached_reply_not_the_cache(engine: ReplyEngine) -> None:
    messages = user("Please describe the history of the printing press in some detail.")
    cut = engine.reply({"messages": messages, "max_tokens": 2}, get_model(LLAMA_8B))
    whole = engine.reply({"messages": messages}, get_model(LLAMA_8B))
    assert cut.finish_reason == "length" and whole.finish_reason == "stop"
    assert whole.content is not None and cut.content is not None and len(cut.content) < len(whole.content)


def test_scripts_and_recordings_come_before_the_cache(derivations: list[str]) -> None:
    scripts = ScriptedReplies()
    messages = user("hello")
    recorded = {request_key(LLAMA_8B, messages): Reply(content="recorded hello")}
    engine = ReplyEngine(scripts, recorded, Verifier())
    derived = engine.reply({"messages": user("hi")}, get_model(LLAMA_8B))
    scripts.push([Reply(content="scripted")])
    assert engine.reply({"messages": user("hi")}, get_model(LLAMA_8B)).content == "scripted"
    assert engine.reply({"messages": user("hi")}, get_model(LLAMA_8B)) == derived
    assert engine.reply({"messages": messages}, get_model(LLAMA_8B)).content == "recorded hello"
    assert derivations == [LLAMA_8B]


def test_the_cache_is_bounded(engine: ReplyEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replies, "DERIVED_CACHE_SIZE", 3)
    for n in range(10):
        engine.reply({"messages": user(f"question {n}")}, get_model(LLAMA_8B))
        assert len(engine._derived) <= 3


def test_a_key_for_what_orjson_cannot_encode() -> None:
    """An integer past 64 bits (the standard library parses one) still makes a key, and a distinct one."""
    big = request_key(LLAMA_8B, [{"role": "user", "content": "a big number", "n": 2**70}])
    assert str(2**70) in big and big != request_key(LLAMA_8B, [{"role": "user", "content": "a big number", "n": 1}])
