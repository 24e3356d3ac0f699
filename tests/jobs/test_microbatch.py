"""MicroBatcher: concurrent callers coalesced into Batch API jobs, each getting its own result."""

from __future__ import annotations

import asyncio

import pytest

from kluster_agents.integrations._api.errors import KlusterBatchError, KlusterUnsupportedError
from kluster_agents.integrations._jobs.microbatch import MicroBatcher

from .conftest import chat

# Engine tests: emulated jobs finish at their first read (observed-like timing: tests/fidelity).
pytestmark = pytest.mark.kluster_emulator(timing="instant")


async def test_concurrent_callers_share_one_job(kluster_emulator):
    async with MicroBatcher(kluster_emulator.settings, max_wait=0.05, poll_interval=0.01) as mb:
        completions = await asyncio.gather(*(mb.complete(chat(i)) for i in range(50)))
    assert len(completions) == 50 and all(c.choices[0].message.content for c in completions)
    assert kluster_emulator.controls.count("/batches", "POST") == 1
    assert (mb.stats.calls, mb.stats.windows, mb.stats.jobs) == (50, 1, 1)


async def test_each_caller_gets_its_own_answer(fake, fake_settings):
    async with MicroBatcher(fake_settings, client=fake.client(), max_wait=0.01, poll_interval=0) as mb:
        answers = await asyncio.gather(*(mb.complete(chat(i)) for i in range(20)))
    assert [a.choices[0].message.content for a in answers] == [f"echo: prompt {i}" for i in range(20)]


async def test_max_batch_size_starts_a_new_window(fake, fake_settings):
    async with MicroBatcher(
        fake_settings, client=fake.client(), max_batch_size=10, max_wait=0.05, poll_interval=0
    ) as mb:
        await asyncio.gather(*(mb.complete(chat(i)) for i in range(25)))
    assert mb.stats.window_sizes == [10, 10, 5] and len(fake.batches) == 3


async def test_a_failing_line_fails_only_its_caller(fake, fake_settings):
    fake.fail_ids = {"auto-1"}
    async with MicroBatcher(fake_settings, client=fake.client(), max_wait=0.01, poll_interval=0) as mb:
        outcomes = await asyncio.gather(*(mb.complete(chat(i)) for i in range(3)), return_exceptions=True)
    assert isinstance(outcomes[1], KlusterBatchError) and "bad request" in str(outcomes[1])
    assert outcomes[0].choices[0].message.content == "echo: prompt 0"
    assert outcomes[2].choices[0].message.content == "echo: prompt 2"


async def test_bad_request_fails_its_caller_before_joining_a_window(fake, fake_settings):
    async with MicroBatcher(fake_settings, client=fake.client(), max_wait=0.01, poll_interval=0) as mb:
        with pytest.raises(KlusterUnsupportedError, match="response_format"):
            await mb.complete(
                chat(0, response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}})
            )
        ok = await mb.complete(chat(1))
    assert ok.choices[0].message.content == "echo: prompt 1" and mb.stats.calls == 1


async def test_job_level_failure_reaches_every_caller(fake, fake_settings):
    fake.final_status = "failed"
    async with MicroBatcher(fake_settings, client=fake.client(), max_wait=0.01, poll_interval=0) as mb:
        outcomes = await asyncio.gather(*(mb.complete(chat(i)) for i in range(3)), return_exceptions=True)
    assert all(isinstance(o, KlusterBatchError) for o in outcomes)


async def test_caller_ids_are_replaced_so_callers_cannot_collide(fake, fake_settings):
    async with MicroBatcher(fake_settings, client=fake.client(), max_wait=0.01, poll_interval=0) as mb:
        a, b = await asyncio.gather(mb.complete(chat(0, custom_id="same")), mb.complete(chat(1, custom_id="same")))
    assert a.choices[0].message.content == "echo: prompt 0" and b.choices[0].message.content == "echo: prompt 1"


def test_bad_options():
    with pytest.raises(ValueError):
        MicroBatcher(max_batch_size=0)
    with pytest.raises(ValueError):
        MicroBatcher(max_wait=-1)
