"""The batch engine end to end against the embedded emulator (real HTTP, documented lifecycle)."""

from __future__ import annotations

import time

import pytest

from kluster_agents.integrations._api.settings import resolve_settings
from kluster_agents.integrations._jobs.batch.decode import KlusterBatchWarning
from kluster_agents.integrations._jobs.batch.run import run_batch
from kluster_agents.integrations._jobs.batch.submit import submit_batch
from kluster_agents.integrations.emulator._control.controls import JobTiming

from .conftest import chat

# These tests are about the engine, not about waiting: jobs finish at their first read after create
# (the observed-like default timing is exercised in tests/fidelity).
pytestmark = pytest.mark.kluster_emulator(timing="instant")

FAST_CLOCK = 3600 / 0.01  # an emulated hour per 10 ms, for the tests that need windows to pass


@pytest.fixture
def emu(kluster_emulator):
    return kluster_emulator


def run(emu, requests, **options):
    return run_batch(requests, **{"settings": emu.settings, "poll_interval": 0.01, "journal": False, **options})


def creates(emu) -> int:
    return emu.controls.count("/batches", "POST")


@pytest.mark.parametrize("n", [1, 1_000])
def test_batch_results_in_input_order(emu, n):
    requests = [chat(i, custom_id=f"q-{n - i}") for i in range(n)]  # ids deliberately not sortable by index
    results = run(emu, requests)
    assert [r.custom_id for r in results] == [f"q-{n - i}" for i in range(n)]
    assert all(r.ok for r in results) and creates(emu) == 1
    replies = {r.response.choices[0].message.content for r in results}
    assert len(replies) > 1 or n == 1  # deterministic replies differ per prompt


@pytest.mark.slow
def test_batch_of_50_000(emu):
    emu.controls.timing.batch_per_line = 0.5  # 50k lines stay well inside the 24h window
    emu.controls.clock.set_speed(FAST_CLOCK)
    started = time.perf_counter()
    results = run(emu, [chat(i) for i in range(50_000)], poll_interval=0.2)
    assert [r.index for r in results] == list(range(50_000)) and all(r.ok for r in results)
    assert creates(emu) == 1
    print(f"50,000-request batch through the emulator: {time.perf_counter() - started:.1f} s")


def test_scripted_replies_reach_each_caller(emu):
    emu.controls.script("alpha", "beta")
    results = run(emu, [chat(0), chat(1)])
    assert sorted(r.unwrap().choices[0].message.content for r in results) == ["alpha", "beta"]


@pytest.mark.filterwarnings("ignore::kluster_agents.integrations._api.compat.KlusterCompatWarning")
def test_compat_makes_lines_acceptable_to_a_docs_strict_service(emu):
    emu.controls.set_mode("docs-strict")  # answers 400 for message `name`, which compat drops
    results = run(emu, [chat(0), chat(1, messages=[{"role": "user", "content": "hi", "name": "bob"}])])
    assert all(r.ok for r in results)


def test_line_rejected_by_the_service_fails_alone_with_its_error(emu):
    results = run(emu, [chat(0), {**chat(1), "model": "acme/not-served"}, chat(2)], strict_models=False)
    assert [r.status for r in results] == ["succeeded", "failed", "succeeded"]
    assert results[1].error.custom_id == "auto-1" and "HTTP 404" in results[1].error.message


def test_over_tier_limit_is_split_before_the_service_would_refuse_it(kluster_emulator):
    kluster_emulator.controls.set_tier("trial")
    settings = resolve_settings(kluster_emulator.settings, tier="trial")
    results = run_batch([chat(i) for i in range(1_500)], settings=settings, poll_interval=0.01, journal=False)
    assert creates(kluster_emulator) == 2 and all(r.ok for r in results)


def test_cancel_in_the_emulator(emu):
    emu.controls.set_timing(JobTiming(batch_scheduling=60))  # still pre_schedule when cancelled
    emu.controls.clock.freeze()
    with submit_batch([chat(i) for i in range(5)], settings=emu.settings, journal=False, poll_interval=0.01) as h:
        h.cancel()
        emu.controls.advance(3600)
        results = h.results(timeout=10)
    assert [r.status for r in results] == ["cancelled"] * 5


def test_expiry_in_the_emulator(emu):
    emu.controls.timing.batch_per_line = 3600.0  # 1h per line: a 1h window finishes none
    emu.controls.clock.set_speed(FAST_CLOCK)
    results = run(emu, [chat(i) for i in range(3)], completion_window="1h")
    assert [r.status for r in results] == ["expired"] * 3


def test_corrupt_output_line_is_skipped_and_nothing_goes_missing(emu):
    emu.controls.corrupt_batch_output(1)
    with pytest.warns(KlusterBatchWarning, match="skipped line 2"):
        results = run(emu, [chat(i) for i in range(4)])
    assert all(r.ok for r in results)  # the corrupt line was extra; every input still has its result


def test_crash_after_create_resumes_with_exactly_one_batch_create(emu, journal_path):
    emu.controls.clock.freeze()
    submit_batch([chat(i) for i in range(20)], settings=emu.settings, journal=journal_path).close()  # "crash"
    emu.controls.clock.set_speed(FAST_CLOCK)
    results = run_batch([chat(i) for i in range(20)], settings=emu.settings, journal=journal_path, poll_interval=0.01)
    assert all(r.ok for r in results)
    assert creates(emu) == 1 and emu.controls.count("/files", "POST") == 1


def test_api_key_never_reaches_request_log_or_errors(emu):
    results = run(emu, [chat(0)])
    logged = repr(emu.controls.requests)
    assert emu.api_key not in logged and emu.api_key not in repr(results)
