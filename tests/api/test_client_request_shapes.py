"""The real-time client keeps compat's per-shape decisions between calls (`RequestShapes`): a repeated
request shape skips the full pass but still gets every per-value check, and what is sent (and refused)
is what the full pass gives."""

from __future__ import annotations

import json
import warnings
from typing import Any

import httpx
import openai
import pytest

from kluster_agents.integrations import KlusterSettings, make_client
from kluster_agents.integrations._api import compat, kluster_openai
from kluster_agents.integrations._api.compat import RequestShapes, prepare_chat_request
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError, KlusterUnsupportedError
from kluster_agents.integrations._api.tiers import Tier

from ._recording import Recorder

KEY = "kl-key-0123456789abcdef"
LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
USER = [{"role": "user", "content": "hi"}]
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": LLAMA,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}

# Shapes LangChain, PydanticAI and CrewAI send in real time, with values each rule must still see.
BODIES: list[dict[str, Any]] = [
    {"model": LLAMA, "messages": USER, "max_tokens": 32, "temperature": 0.0, "stream": False},
    {"model": LLAMA, "messages": USER, "max_tokens": 10**7},  # above the tier after the rename: refused
    {"model": LLAMA, "messages": USER, "max_tokens": 0},
    {"model": LLAMA, "messages": USER, "max_tokens": "32"},
    {"model": LLAMA, "messages": USER, "max_tokens": 32, "max_completion_tokens": 16},  # target set: no rename
    {"model": LLAMA, "messages": USER, "max_tokens": 32, "temperature": 3.0},
    {"model": LLAMA, "messages": USER, "max_tokens": 32, "store": True},
    {"model": "llama-3.3-70b", "messages": USER, "max_tokens": 32},  # alias: full pass
    {"model": LLAMA, "messages": [{"role": "user", "content": "héllo, 你好"}], "max_tokens": 8},
    {"model": LLAMA, "messages": [{"role": "user", "content": "bad \ud800 text"}], "max_tokens": 8},
    {"model": LLAMA, "messages": [{"role": "system", "content": "be brief"}, *USER], "top_p": 0.5, "seed": 3},
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_shapes_match_the_full_pass_on_real_time_shapes(body: dict[str, Any], compat_outcome: Any) -> None:
    settings = KlusterSettings.load(api_key=KEY, warn_on_drop=False)
    shapes = RequestShapes(settings)
    expected = compat_outcome(lambda b: prepare_chat_request(b, settings=settings), body)
    for _ in range(2):  # the first call decides the shape's plan, the second uses it
        assert compat_outcome(shapes.prepare, body) == expected


def _client(rec: Recorder, **settings: Any) -> Any:
    return make_client(
        KlusterSettings(api_key=KEY, warn_on_drop=False, **settings),
        http_client=httpx.Client(transport=httpx.MockTransport(rec)),
    )


def test_a_repeated_shape_skips_the_full_pass_but_not_the_value_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    full_passes: list[dict[str, Any]] = []
    original = compat._full_pass

    def counting(params: Any, **kwargs: Any) -> dict[str, Any]:
        full_passes.append(params)
        return original(params, **kwargs)

    monkeypatch.setattr(compat, "_full_pass", counting)  # the fallback of `RequestShapes`
    monkeypatch.setattr(kluster_openai, "prepare_chat_request", counting)  # the client's own call
    rec = Recorder(COMPLETION)
    client = _client(rec)
    for tokens in (5, 6, 7):
        client.chat.completions.create(model=LLAMA, messages=USER, max_tokens=tokens, temperature=0.5)
    assert full_passes == []  # a catalog name, plain messages: decided once, from the shape
    assert [b["max_completion_tokens"] for b in rec.bodies] == [5, 6, 7]
    assert not any("max_tokens" in b for b in rec.bodies)
    with pytest.raises(KlusterInvalidRequestError, match="temperature"):
        client.chat.completions.create(model=LLAMA, messages=USER, max_tokens=5, temperature=3.0)
    with pytest.raises(KlusterUnsupportedError, match="max output"):
        client.chat.completions.create(model=LLAMA, messages=USER, max_tokens=10**7, temperature=0.5)
    with pytest.raises(KlusterInvalidRequestError, match="lone surrogate"):
        client.chat.completions.create(
            model=LLAMA, messages=[{"role": "user", "content": "\ud800"}], max_tokens=5, temperature=0.5
        )
    assert len(rec.requests) == 3  # every refusal before the network


def test_replaced_settings_take_effect_on_the_next_call() -> None:
    rec = Recorder(COMPLETION)
    client = _client(rec)
    client.chat.completions.create(model=LLAMA, messages=USER, max_tokens=10**5)  # a plan for the core tier
    client.kluster_settings = KlusterSettings(api_key=KEY, over_limit="clamp", tier=Tier.core)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.chat.completions.create(model=LLAMA, messages=USER, max_tokens=10**7)
    assert rec.bodies[1]["max_completion_tokens"] < 10**7  # clamped under the new settings


def test_compat_header_still_names_the_translation_on_the_fast_path() -> None:
    rec = Recorder(COMPLETION)
    client = _client(rec, send_compat_header="always")
    for _ in range(2):
        client.chat.completions.create(model=LLAMA, messages=USER, max_tokens=5)
        client.chat.completions.create(model=LLAMA, messages=USER, max_completion_tokens=5)
    headers = [r.headers.get("x-kluster-compat") for r in rec.requests]
    assert headers[1] is None and headers[3] is None  # nothing changed: no header
    for value in (headers[0], headers[2]):
        assert value is not None and json.loads(value)["translated"] == {"max_tokens": "max_completion_tokens"}


def test_shapes_kept_are_bounded() -> None:
    shapes = RequestShapes(KlusterSettings(api_key=KEY))
    for i in range(RequestShapes.MAX_SHAPES * 2):
        shapes.prepare({"model": LLAMA, "messages": USER, f"extra_{i}": 1})
    assert len(shapes._plans) <= RequestShapes.MAX_SHAPES


def test_read_timeout_header_is_left_out_but_the_timeout_applies() -> None:
    rec = Recorder(COMPLETION)
    client = _client(rec, timeout=12)
    client.chat.completions.create(model=LLAMA, messages=USER)
    client.chat.completions.with_raw_response.create(model=LLAMA, messages=USER, extra_headers={"X-Mine": "1"})
    client.chat.completions.create(model=LLAMA, messages=USER, extra_headers={"X-Stainless-Read-Timeout": "7"})
    sent = [r.headers.get("x-stainless-read-timeout") for r in rec.requests]
    assert sent == [None, None, "7"]  # a caller's own value is kept
    assert rec.requests[1].headers["x-mine"] == "1"
    assert all(r.extensions["timeout"]["read"] == 12 for r in rec.requests)


def test_omitted_parameters_reach_neither_compat_nor_the_body() -> None:
    """The SDK's `omit` means "not given" (PydanticAI passes it): `tools=omit` to a model without tool
    calling is no tool request, and the body leaves it out."""
    rec = Recorder(COMPLETION)
    client = _client(rec)
    no_tools = "mistralai/Mistral-Nemo-Instruct-2407"
    client.chat.completions.create(model=no_tools, messages=USER, tools=openai.omit, tool_choice=openai.omit)
    client.chat.completions.create(model=no_tools, messages=USER, temperature=0.5)
    assert [sorted(b) for b in rec.bodies] == [["messages", "model"], ["messages", "model", "temperature"]]
    with pytest.raises(KlusterUnsupportedError, match="tool"):
        client.chat.completions.create(
            model=no_tools, messages=USER, tools=[{"type": "function", "function": {"name": "f"}}]
        )
