"""Resume: the journal makes a re-run after a crash re-attach instead of paying twice."""

from __future__ import annotations

import httpx
import pytest

from kluster_agents.integrations._api.errors import KlusterConnectionError
from kluster_agents.integrations._jobs.batch.run import run_batch
from kluster_agents.integrations._jobs.batch.submit import submit_batch
from kluster_agents.integrations._jobs.journal import Journal, default_journal_path

from .conftest import chat
from .fake_api import API_KEY

# Engine tests: emulated jobs finish at their first read (observed-like timing: tests/fidelity).
pytestmark = pytest.mark.kluster_emulator(timing="instant")

REQUESTS = [chat(i) for i in range(6)]


def resume_run(fake, settings, journal_path, **options):
    return run_batch(
        REQUESTS, settings=settings, client=fake.client(), journal=journal_path, poll_interval=0, **options
    )


def test_crash_after_upload_resumes_without_a_second_upload(fake, fake_settings, journal_path, monkeypatch):
    real = fake.handle

    def crash_on_create(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/batches"):
            raise httpx.ConnectError("process killed")
        return real(request)

    monkeypatch.setattr(fake, "handle", crash_on_create)
    with pytest.raises(KlusterConnectionError):
        resume_run(fake, fake_settings, journal_path)
    monkeypatch.setattr(fake, "handle", real)

    results = resume_run(fake, fake_settings, journal_path)
    assert all(r.ok for r in results)
    assert fake.count("POST", "/files") == 1 and len(fake.batches) == 1


def test_crash_after_create_reattaches_to_the_running_job(fake, fake_settings, journal_path):
    fake.polls_to_finish = 3
    handle = submit_batch(REQUESTS, settings=fake_settings, client=fake.client(), journal=journal_path, poll_interval=0)
    handle.close()  # the process dies before collecting anything

    results = resume_run(fake, fake_settings, journal_path)
    assert [r.unwrap().choices[0].message.content for r in results] == [f"echo: prompt {i}" for i in range(6)]
    assert fake.count("POST", "/batches") == 1 and fake.count("POST", "/files") == 1


def test_crash_between_create_and_journal_write_finds_the_job_by_its_file(
    fake, fake_settings, journal_path, monkeypatch
):
    real_record = Journal.record

    def lose_batch_id(self, run_key, chunk, *, file_id=None, batch_id=None):
        if batch_id is not None:
            raise KeyboardInterrupt  # killed right after the create call returned
        real_record(self, run_key, chunk, file_id=file_id)

    monkeypatch.setattr(Journal, "record", lose_batch_id)
    with pytest.raises(KeyboardInterrupt):
        resume_run(fake, fake_settings, journal_path)
    monkeypatch.setattr(Journal, "record", real_record)

    assert all(r.ok for r in resume_run(fake, fake_settings, journal_path))
    # one listing before the create and one after it (jobs of other workers), one finding the job on resume
    assert len(fake.batches) == 1 and fake.count("GET", "/batches") == 3


def test_a_rerun_of_a_finished_run_reattaches_and_journal_false_submits_afresh(fake, fake_settings, journal_path):
    """The journal cannot tell a deliberate rerun from one after a crash that lost the results: it
    re-attaches (the answers come back from the finished jobs); `journal=False` pays again on purpose."""
    first = [r.unwrap().choices[0].message.content for r in resume_run(fake, fake_settings, journal_path)]
    again = [r.unwrap().choices[0].message.content for r in resume_run(fake, fake_settings, journal_path)]
    assert again == first and len(fake.batches) == 1
    run_batch(REQUESTS, settings=fake_settings, client=fake.client(), journal=False, poll_interval=0)
    assert len(fake.batches) == 2


def test_different_input_or_options_is_a_different_run(fake, fake_settings, journal_path):
    fake.polls_to_finish = 10_000
    for options in ({}, {"completion_window": "1h"}, {"metadata": {"a": "b"}}):
        submit_batch(REQUESTS, settings=fake_settings, client=fake.client(), journal=journal_path, **options).close()
    submit_batch(REQUESTS[:5], settings=fake_settings, client=fake.client(), journal=journal_path).close()
    assert len(fake.batches) == 4


def test_multi_job_run_resumes_only_what_is_missing(fake, fake_settings, journal_path, monkeypatch):
    real = fake.handle
    creates = 0

    def crash_on_second_create(request: httpx.Request) -> httpx.Response:
        nonlocal creates
        if request.method == "POST" and request.url.path.endswith("/batches"):
            creates += 1
            if creates >= 2:  # the network is gone from the second create on (the engine's own retries too)
                raise httpx.ConnectError("process killed")
        return real(request)

    monkeypatch.setattr(fake, "handle", crash_on_second_create)
    with pytest.raises(KlusterConnectionError):
        resume_run(fake, fake_settings, journal_path, max_requests_per_job=2)
    monkeypatch.setattr(fake, "handle", real)
    results = resume_run(fake, fake_settings, journal_path, max_requests_per_job=2)
    assert all(r.ok for r in results) and len(fake.batches) == 3
    assert fake.count("POST", "/files") == 3  # chunk 1 and 2 uploaded once each, chunk 3 once


def test_journal_location_and_no_secrets(fake, fake_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("KLUSTER_JOURNAL_PATH", str(tmp_path / "j" / "runs.db"))
    assert default_journal_path() == tmp_path / "j" / "runs.db"
    run_batch(REQUESTS, settings=fake_settings, client=fake.client(), poll_interval=0)
    data = (tmp_path / "j" / "runs.db").read_bytes()
    assert b"batch-" in data and API_KEY.encode() not in data


def test_default_journal_is_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("KLUSTER_JOURNAL_PATH", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_journal_path() == tmp_path / "kluster-agents" / "journal.sqlite3"


def test_a_worker_that_raced_another_adopts_the_earlier_job_and_cancels_its_own(
    fake, fake_settings, journal_path, tmp_path
):
    """Two workers with their own journals submit one input at once: both create a job; the one whose
    job came second adopts the first and cancels its duplicate, so one job runs and is billed."""
    first = submit_batch(REQUESTS, settings=fake_settings, client=fake.client(), journal=tmp_path / "a.sqlite3")
    real = fake.handle
    earliest = first.batch_ids[0]

    def hide_until_created(request: httpx.Request) -> httpx.Response:
        # the other worker's create is not visible yet when this one looks before creating
        if request.method == "GET" and request.url.path.endswith("/batches") and fake.count("POST", "/batches") < 2:
            return httpx.Response(200, json={"object": "list", "data": [], "has_more": False})
        return real(request)

    fake.handle = hide_until_created
    second = submit_batch(REQUESTS, settings=fake_settings, client=fake.client(), journal=journal_path, poll_interval=0)
    fake.handle = real
    assert second.batch_ids == [earliest]
    assert [b["status"] for b in fake.batches.values()] == ["validating", "cancelling"]
    assert [r.content for r in second.results()] == [f"echo: prompt {i}" for i in range(6)]
    first.close()
