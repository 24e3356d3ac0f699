"""Adaptive inference: the @kluster.ai metadata helper and the eventual (not placeholder) result."""

from __future__ import annotations

import pytest

from kluster_agents.integrations.api.errors import KlusterBatchError, KlusterConfigError, KlusterInvalidRequestError
from kluster_agents.integrations.jobs.adaptive import (
    acomplete_adaptive,
    adaptive_metadata,
    complete_adaptive,
    submit_adaptive,
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
    with pytest.raises(KlusterInvalidRequestError, match="stream"):
        submit_adaptive(chat(0, stream=True), settings=fake_settings, client=fake.client())
    assert fake.log == []
