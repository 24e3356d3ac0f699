"""Adaptive inference: the @kluster.ai metadata helper and the eventual (not placeholder) result."""

from __future__ import annotations

import json

import pytest

from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.errors import (
    KlusterBatchError,
    KlusterConfigError,
    KlusterInvalidRequestError,
    KlusterUnsupportedError,
)
from kluster_agents.integrations._jobs.adaptive import (
    AdaptiveMode,
    acomplete_adaptive,
    adaptive_metadata,
    complete_adaptive,
    submit_adaptive,
    with_adaptive,
)

from .conftest import chat

# Engine tests: emulated jobs finish at their first read (observed-like timing: tests/fidelity).
pytestmark = pytest.mark.kluster_emulator(timing="instant")

PLACEHOLDER = "Your request has been queued for adaptive inference"


def test_metadata_helper_matches_the_documented_shape():
    assert adaptive_metadata() == {"@kluster.ai": {"async": True, "completion_window": "24h"}}
    assert adaptive_metadata("1h", strict_completion_window=True, callback_url="https://me.example/cb", team="a") == {
        "team": "a",
        "@kluster.ai": {
            "async": True,
            "completion_window": "1h",
            "strict_completion_window": True,
            "callback_url": "https://me.example/cb",
        },
    }


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"completion_window": "2h"}, KlusterConfigError), ({"callback_url": "ftp://x"}, KlusterInvalidRequestError)],
)
def test_metadata_helper_refuses_bad_options(kwargs, error):
    with pytest.raises(error):
        adaptive_metadata(**kwargs)


def test_eventual_result_not_the_placeholder(kluster_emulator):
    kluster_emulator.controls.script("the real answer")
    completion = complete_adaptive(
        chat(0), settings=kluster_emulator.settings, completion_window="1h", poll_interval=0.01
    )
    assert completion.choices[0].message.content == "the real answer"
    sent = [r.body for r in kluster_emulator.controls.requests if r.path.endswith("/chat/completions")]
    assert sent[0]["metadata"]["@kluster.ai"] == {"async": True, "completion_window": "1h"}


def test_placeholder_is_exposed_by_submit(kluster_emulator):
    queued = submit_adaptive({**chat(0), "metadata": {"team": "a"}}, settings=kluster_emulator.settings)
    assert PLACEHOLDER in queued.placeholder.choices[0].message.content
    assert queued.batch_id and queued.batch_id in queued.placeholder.id


async def test_async_variant(kluster_emulator):
    completion = await acomplete_adaptive(chat(1), settings=kluster_emulator.settings, poll_interval=0.01)
    assert PLACEHOLDER not in completion.choices[0].message.content


def test_expired_adaptive_request_raises_with_the_batch_id(kluster_emulator):
    kluster_emulator.controls.timing.batch_per_line = 7200.0
    kluster_emulator.controls.clock.set_speed(3600 / 0.01)  # the 1h window passes in 10 ms (this test only)
    with pytest.raises(KlusterBatchError, match=r"Adaptive request \(batch .+\).*expired"):
        complete_adaptive(chat(0), settings=kluster_emulator.settings, completion_window="1h", poll_interval=0.01)


def test_works_with_the_fake_too(fake, fake_settings):
    completion = complete_adaptive(chat(3), settings=fake_settings, client=fake.client(), poll_interval=0)
    assert completion.choices[0].message.content == "echo: prompt 3"


def test_stream_is_refused(fake, fake_settings):
    with pytest.raises(KlusterUnsupportedError, match="stream"):
        submit_adaptive(chat(0, stream=True), settings=fake_settings, client=fake.client())
    assert fake.log == []


# -- adaptive requests through any kluster client: the placeholder never reaches the caller ---------


def _metadata(**options: object) -> dict[str, object]:
    return {"@kluster.ai": {"async": True, **options}}


@pytest.mark.parametrize("route", ["metadata", "extra_body"])
def test_client_waits_for_the_answer_of_an_adaptive_request(kluster_emulator, route):
    kluster_emulator.controls.script("the real answer")
    client = make_client(kluster_emulator.settings)
    kwargs = {"metadata": _metadata()} if route == "metadata" else {"extra_body": {"metadata": _metadata()}}
    completion = client.chat.completions.create(**chat(0), **kwargs)
    assert completion.choices[0].message.content == "the real answer"
    assert any(r.path.endswith("/batches") or "/batches/" in r.path for r in kluster_emulator.controls.requests)


def test_raw_response_parses_to_the_answer(kluster_emulator):
    """LangChain reads completions through `with_raw_response`: that path gets the answer too."""
    kluster_emulator.controls.script("raw answer")
    raw = make_client(kluster_emulator.settings).chat.completions.with_raw_response.create(
        **chat(0), metadata=_metadata(completion_window="1h")
    )
    assert raw.parse().choices[0].message.content == "raw answer"
    assert raw.headers is not None
    # CrewAI reads the raw body too (it checks it for upstream errors): the answer's, not the placeholder's
    assert json.loads(raw.text)["choices"][0]["message"]["content"] == "raw answer"
    assert json.loads(raw.content) == json.loads(raw.text)


async def test_async_client_waits_for_the_answer(kluster_emulator):
    kluster_emulator.controls.script("async answer")
    client = make_async_client(kluster_emulator.settings)
    completion = await client.chat.completions.create(**chat(0), extra_body={"metadata": _metadata()})
    assert completion.choices[0].message.content == "async answer"


def test_adaptive_stream_is_refused_before_the_network(kluster_emulator):
    client = make_client(kluster_emulator.settings)
    before = len(kluster_emulator.controls.requests)
    with pytest.raises(KlusterUnsupportedError, match="stream") as info:
        client.chat.completions.create(**chat(0), stream=True, metadata=_metadata())
    assert info.value.model == chat(0)["model"]
    assert len(kluster_emulator.controls.requests) == before


def test_plain_requests_are_untouched(kluster_emulator):
    kluster_emulator.controls.script("plain")
    completion = make_client(kluster_emulator.settings).chat.completions.create(**chat(0))
    assert completion.choices[0].message.content == "plain"
    assert not any("/batches" in r.path for r in kluster_emulator.controls.requests)


def test_adaptive_mode_coerces_user_options():
    assert AdaptiveMode.coerce(None) is None and AdaptiveMode.coerce(False) is None
    assert AdaptiveMode.coerce(True) == AdaptiveMode()
    mode = AdaptiveMode.coerce({"completion_window": "1h", "strict_completion_window": True})
    assert mode is not None and mode.metadata() == _metadata(completion_window="1h", strict_completion_window=True)
    assert with_adaptive({"metadata": {"team": "a"}}, mode)["metadata"]["team"] == "a"
    assert with_adaptive({"x": 1}, None) == {"x": 1}


@pytest.mark.parametrize(
    "value",
    [{"completion_window": "2h"}, {"window": "1h"}, "yes", {"callback_url": "ftp://x"}],
)
def test_adaptive_mode_refuses_bad_options(value):
    with pytest.raises((KlusterConfigError, KlusterInvalidRequestError)):
        AdaptiveMode.coerce(value)
