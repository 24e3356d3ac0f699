"""The batch engine against the fake API: order, accounting of every line, splits, bad input."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from kluster_agents.integrations._api.errors import (
    KlusterBatchError,
    KlusterConfigError,
    KlusterInvalidRequestError,
    KlusterUnsupportedError,
)
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._jobs.batch.handle import BatchHandle
from kluster_agents.integrations._jobs.batch.run import arun_batch, iter_results, run_batch
from kluster_agents.integrations._jobs.batch.submit import submit_batch

from .conftest import MODEL, chat
from .fake_api import API_KEY, FakeKluster

# Engine tests: emulated jobs finish at their first read (observed-like timing: tests/fidelity).
pytestmark = pytest.mark.kluster_emulator(timing="instant")


def run(fake: FakeKluster, settings: KlusterSettings, requests, **options) -> list:
    return run_batch(requests, settings=settings, client=fake.client(), journal=False, poll_interval=0, **options)


def answer(result) -> str:
    return result.unwrap().choices[0].message.content


def test_results_come_back_in_input_order_with_given_and_generated_ids(fake, fake_settings):
    requests = [chat(i, custom_id=f"mine-{i}") if i % 2 else chat(i) for i in range(7)]
    results = run(fake, fake_settings, requests)
    assert [r.index for r in results] == list(range(7))
    assert [r.custom_id for r in results] == [f"mine-{i}" if i % 2 else f"auto-{i}" for i in range(7)]
    assert [answer(r) for r in results] == [f"echo: prompt {i}" for i in range(7)]  # fake writes them reversed
    assert fake.count("POST", "/files") == 1 and fake.count("POST", "/batches") == 1


def test_one_request(fake, fake_settings):
    [result] = run(fake, fake_settings, [chat(0)])
    assert result.ok and answer(result) == "echo: prompt 0"


def test_pydantic_models_and_batch_lines_are_accepted(fake, fake_settings):
    class Req(BaseModel):
        model: str
        messages: list[dict[str, str]]
        temperature: float | None = None

    line = {"custom_id": "line-1", "method": "POST", "url": "/v1/chat/completions", "body": chat(1)}
    results = run(fake, fake_settings, [Req(**chat(0)), line])
    assert [r.custom_id for r in results] == ["auto-0", "line-1"]
    assert all(r.ok for r in results)


def test_partial_failure_keeps_the_servers_error_on_its_line(fake, fake_settings):
    fake.fail_ids = {"auto-1", "auto-3"}
    results = run(fake, fake_settings, [chat(i) for i in range(5)])
    assert [r.status for r in results] == ["succeeded", "failed", "succeeded", "failed", "succeeded"]
    failed = results[1]
    assert failed.response is None and isinstance(failed.error, KlusterBatchError)
    assert failed.error.custom_id == "auto-1" and failed.error.batch_id
    assert "bad request for auto-1" in failed.error.message and "Request 1" in failed.error.message
    with pytest.raises(KlusterBatchError, match="bad request for auto-3"):
        results[3].unwrap()


def test_cancel_accounts_every_line_as_cancelled(fake, fake_settings):
    fake.polls_to_finish = 10_000
    with submit_batch(
        [chat(i) for i in range(4)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0
    ) as handle:
        assert handle.status().status == "in_progress"
        assert handle.cancel().status == "cancelling"
        results = handle.results()
    assert [r.status for r in results] == ["cancelled"] * 4
    assert all("cancelled" in r.error.message for r in results)
    assert fake.count("POST", r"/batches/[^/]+/cancel") == 1


def test_expiry_keeps_finished_lines_and_marks_the_rest_expired(fake, fake_settings):
    fake.final_status = "expired"
    results = run(fake, fake_settings, [chat(i) for i in range(4)])
    assert [r.status for r in results] == ["succeeded", "succeeded", "expired", "expired"]
    assert "completion window" in results[3].error.message


def test_failed_validation_maps_line_numbered_errors_to_their_requests(fake, fake_settings):
    fake.final_status = "failed"
    results = run(fake, fake_settings, [chat(i) for i in range(3)])
    assert [r.status for r in results] == ["failed"] * 3
    assert "model not found" in results[1].error.message  # the service's error names line 2
    assert "ended 'failed'" in results[0].error.message


def test_tier_limit_splits_into_several_jobs_and_keeps_order(fake):
    trial = KlusterSettings.load(api_key=API_KEY, base_url="https://fake.kluster.test/v1", tier="trial")
    results = run(fake, trial, [chat(i) for i in range(2_500)])  # trial: 1,000 requests per batch
    assert fake.count("POST", "/batches") == 3
    assert sorted(b["request_counts"]["total"] for b in fake.batches.values()) == [500, 1000, 1000]
    assert [answer(r) for r in results] == [f"echo: prompt {i}" for i in range(2_500)]


def test_file_size_limit_splits_into_several_jobs(fake, fake_settings):
    results = run(fake, fake_settings, [chat(i) for i in range(30)], max_file_bytes=1_000)
    assert fake.count("POST", "/batches") > 1
    assert all(len(data) <= 1_000 for data in fake.files.values() if b'"method":"POST"' in data)
    assert [r.index for r in results] == list(range(30)) and all(r.ok for r in results)


def test_iter_results_streams_job_by_job_in_order(fake, fake_settings):
    stream = iter_results(
        [chat(i) for i in range(10)],
        settings=fake_settings,
        client=fake.client(),
        journal=False,
        poll_interval=0,
        max_requests_per_job=4,
    )
    first = next(stream)
    assert first.index == 0 and fake.count("GET", r"/files/[^/]+/content") == 1  # only job 1 fetched so far
    assert [r.index for r in stream] == list(range(1, 10))


async def test_arun_batch(fake, fake_settings):
    results = await arun_batch(
        [chat(i) for i in range(3)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0
    )
    assert [answer(r) for r in results] == ["echo: prompt 0", "echo: prompt 1", "echo: prompt 2"]


def test_completion_window_and_metadata_reach_the_job(fake, fake_settings):
    run(fake, fake_settings, [chat(0)], completion_window="6h", metadata={"project": "q3"})
    [batch] = fake.batches.values()
    assert batch["completion_window"] == "6h" and batch["metadata"]["project"] == "q3"
    # plus the tags that make job creation idempotent (reconciled by run key and chunk)
    assert set(batch["metadata"]) == {"project", "kluster_agents_run", "kluster_agents_chunk"}


def test_wait_shows_a_progress_bar(fake, fake_settings, capsys):
    fake.polls_to_finish = 2
    with submit_batch([chat(0)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0) as h:
        status = h.wait(progress=True)
    assert status.done and status.completed == 1
    assert "Batch batch-" in capsys.readouterr().out


def test_timeout_leaves_the_job_running(fake, fake_settings):
    fake.polls_to_finish = 10_000
    handle = submit_batch([chat(0)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0.01)
    with handle, pytest.raises(TimeoutError, match="still running"):
        handle.wait(timeout=0.05)
    assert fake.count("POST", r"/batches/[^/]+/cancel") == 0


# --- bad input: a clear error naming the line, and nothing uploaded ---------------------------------------


@pytest.mark.parametrize(
    ("bad", "error", "text"),
    [
        (chat(9, custom_id="auto-1"), KlusterInvalidRequestError, "Request 2 repeats custom_id 'auto-1'"),
        (
            chat(9, response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}),
            KlusterUnsupportedError,
            "Request 2 (custom_id 'auto-2'): `response_format`",
        ),
        (chat(9, n=3), KlusterUnsupportedError, "Request 2 (custom_id 'auto-2'): `n`"),
        (chat(9, stream=True), KlusterInvalidRequestError, "Request 2 (custom_id 'auto-2'): stream=True"),
        ({"model": MODEL}, KlusterInvalidRequestError, "Request 2 (custom_id 'auto-2'): `messages`"),
        ("just a prompt", KlusterInvalidRequestError, "Request 2 must be a chat request dict"),
        (chat(9, custom_id=""), KlusterInvalidRequestError, "Request 2: custom_id must be a non-empty string"),
        (
            chat(9, custom_id="big", messages=[{"role": "user", "content": "x" * 5_000}]),
            KlusterInvalidRequestError,
            "Request 2 (custom_id 'big') is 5,",
        ),
    ],
)
def test_bad_line_is_named_before_anything_is_uploaded(fake, fake_settings, bad, error, text):
    with pytest.raises(error) as info:
        run(fake, fake_settings, [chat(0), chat(1), bad, chat(3)], max_file_bytes=4_000)
    assert text in str(info.value)
    assert fake.log == []


def test_duplicate_found_across_index_flushes(fake, fake_settings):
    requests = [chat(i, custom_id=f"id-{i}") for i in range(12_000)] + [chat(0, custom_id="id-5")]
    with pytest.raises(
        KlusterInvalidRequestError, match=r"Request 12000 repeats custom_id 'id-5' .first used by request 5"
    ):
        run(fake, fake_settings, requests)
    assert fake.log == []


def test_unknown_model_is_checked_against_v1_models(fake, fake_settings):
    with pytest.raises(
        KlusterInvalidRequestError, match=r"Request 1 \(custom_id 'auto-1'\): model 'acme/made-up-9000'"
    ):
        run(fake, fake_settings, [chat(0), {**chat(1), "model": "acme/made-up-9000"}])
    assert fake.log == [("GET", "/models")]  # one look-up, no upload


def test_unknown_model_served_by_the_key_is_accepted(fake, fake_settings):
    results = run(fake, fake_settings, [{**chat(0), "model": "acme/served-model"}])
    assert results[0].ok and fake.count("GET", "/models") == 1


def test_strict_models_off_lets_the_service_decide(fake, fake_settings):
    run(fake, fake_settings, [{**chat(0), "model": "acme/made-up-9000"}], strict_models=False)
    assert fake.count("GET", "/models") == 0 and fake.count("POST", "/batches") == 1


def test_catalog_models_need_no_lookup(fake, fake_settings):
    run(fake, fake_settings, [chat(0), {**chat(1), "model": "llama-3.1-8b"}])
    assert fake.count("GET", "/models") == 0
    assert b"klusterai/Meta-Llama-3.1-8B-Instruct-Turbo" in b"".join(fake.files.values())  # alias resolved


@pytest.mark.parametrize("kwargs", [{"completion_window": "2h"}, {"client": object()}])
def test_bad_options_are_config_errors(fake_settings, kwargs):
    with pytest.raises(KlusterConfigError):
        submit_batch([chat(0)], settings=fake_settings, journal=False, **kwargs)


def test_missing_key_fails_before_any_work():
    with pytest.raises(KlusterConfigError, match="KLUSTER_API_KEY"):
        run_batch([chat(0)], journal=False)


def test_empty_batch_is_refused(fake, fake_settings):
    with pytest.raises(KlusterInvalidRequestError, match="empty"):
        run(fake, fake_settings, [])


@pytest.mark.filterwarnings("ignore::kluster_agents.integrations._api.compat.KlusterCompatWarning")
def test_compat_translations_are_applied_to_every_line(fake, fake_settings):
    run(fake, fake_settings, [chat(0, max_tokens=50, store=True)])
    data = b"".join(fake.files.values())
    assert b'"max_completion_tokens":50' in data and b"max_tokens" not in data.replace(b"max_completion_tokens", b"")
    assert b'"store"' not in data


def test_handle_cleans_its_work_files(fake, fake_settings):
    handle = submit_batch([chat(0)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0)
    assert isinstance(handle, BatchHandle) and handle.workdir.exists() and "batch-" in repr(handle)
    handle.results()
    handle.close()
    assert not handle.workdir.exists()
