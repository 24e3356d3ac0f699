"""Files, uploads and the Batch API lifecycle on the emulated clock, incl. cancel, expiry, partial
failure, invalid JSONL, over-limit files, malformed output lines, and adaptive async requests."""

from __future__ import annotations

import io
import json
import re

import openai
import pytest

from kluster_agents.integrations.emulator._control.controls import JobTiming

from .helpers import LLAMA_8B, user

# The phase lengths these lifecycle tests step through with `advance()`, set explicitly.
# One line at a time, so request_counts can be watched moving line by line.
STEPPED = JobTiming(batch_scheduling=5, batch_per_line=1, batch_parallel_lines=1, batch_finalizing=5, cancelling=30)


def _line(custom_id: str, text: str, model: str = LLAMA_8B, **extra) -> dict:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": user(text), **extra},
    }


def _upload(client: openai.OpenAI, lines: list, purpose: str = "batch") -> str:
    data = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()
    return client.files.create(file=("input.jsonl", io.BytesIO(data)), purpose=purpose).id


def _results(client: openai.OpenAI, file_id: str | None) -> dict[str, dict]:
    if file_id is None:
        return {}
    text = client.files.content(file_id).text
    return {row["custom_id"]: row for row in map(json.loads, text.splitlines())}


def test_files_upload_retrieve_list_content_delete(client: openai.OpenAI) -> None:
    file_id = _upload(client, [_line("a", "hi")])
    info = client.files.retrieve(file_id)
    assert info.purpose == "batch" and info.bytes > 0
    assert re.fullmatch(r"[0-9a-f]{24}/[0-9a-f-]{36}-[0-9a-f-]{36}", info.filename)  # server-generated (observed)
    assert json.loads(client.files.content(file_id).text)["custom_id"] == "a"
    ft_id = _upload(client, [{"messages": user("x")}], purpose="fine-tune")
    assert {f.id for f in client.files.list()} == {file_id, ft_id}
    assert [f.id for f in client.files.list(purpose="fine-tune")] == [ft_id]
    assert client.files.delete(file_id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file_id)
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("x.jsonl", io.BytesIO(b"{}")), purpose="assistants")


def test_uploads_api_in_parts(client: openai.OpenAI) -> None:
    data = b"".join(json.dumps(_line(f"r{i}", f"q{i}")).encode() + b"\n" for i in range(10))
    upload = client.uploads.create(
        bytes=len(data), filename="big.jsonl", mime_type="application/jsonl", purpose="batch"
    )
    assert upload.status == "pending"
    parts = [client.uploads.parts.create(upload.id, data=data[i : i + 300]) for i in range(0, len(data), 300)]
    done = client.uploads.complete(upload.id, part_ids=[p.id for p in parts])
    assert done.status == "completed" and done.file.bytes == len(data)
    assert client.files.content(done.file.id).content == data


@pytest.mark.kluster_emulator(mode="docs-strict")
def test_uploaded_filename_is_the_clients_in_docs_strict_mode(client: openai.OpenAI) -> None:
    assert client.files.retrieve(_upload(client, [_line("a", "hi")])).filename == "input.jsonl"


@pytest.mark.kluster_emulator(mode="docs-strict")
def test_documented_batch_lifecycle_in_docs_strict_mode(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    controls.set_timing(STEPPED)
    file_id = _upload(client, [_line("r1", "first question"), _line("r2", "second question")])
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating" and batch.expires_at == batch.created_at + 24 * 3600
    controls.advance(5)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "in_progress" and batch.request_counts.total == 2 and batch.request_counts.completed == 0
    controls.advance(1)
    assert client.batches.retrieve(batch.id).request_counts.completed == 1
    controls.advance(1)
    assert client.batches.retrieve(batch.id).status == "finalizing"
    controls.advance(5)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.request_counts.completed == 2 and batch.error_file_id is None
    assert batch.in_progress_at <= batch.finalizing_at <= batch.completed_at
    rows = _results(client, batch.output_file_id)
    assert set(rows["r1"]) == {"id", "custom_id", "response", "error"}
    assert rows["r1"]["response"]["status_code"] == 200
    realtime = client.chat.completions.create(model=LLAMA_8B, messages=user("first question"))
    assert rows["r1"]["response"]["body"]["choices"][0]["message"]["content"] == realtime.choices[0].message.content
    assert controls.count("/batches", method="POST") == 1


def test_observed_batch_lifecycle(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    controls.set_timing(STEPPED)
    file_id = _upload(client, [_line("r1", "first question"), _line("r2", "second question")])
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "pre_schedule" and batch.errors == []
    controls.advance(5)
    batch = client.batches.retrieve(batch.id)
    assert (
        batch.status == "in_progress" and batch.request_counts.total == 2 and batch.in_progress_at == batch.created_at
    )
    controls.advance(1)
    assert client.batches.retrieve(batch.id).request_counts.completed == 1
    controls.advance(1)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.finalizing_at == batch.completed_at and batch.errors == []
    rows = _results(client, batch.output_file_id)
    assert set(rows["r1"]) == {"id", "custom_id", "response"}
    assert re.fullmatch(r"[0-9a-f]{24}", rows["r1"]["id"])


@pytest.mark.kluster_emulator(timing="instant")
def test_batch_completes_at_first_read_with_instant_timing(client: openai.OpenAI) -> None:
    file_id = _upload(client, [_line("r1", "hi")])
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="1h")
    assert batch.status == "pre_schedule"
    assert client.batches.retrieve(batch.id).status == "completed"


def test_partial_failure_lands_in_error_file(client: openai.OpenAI, controls) -> None:
    controls.script("scripted answer")
    lines = [_line("ok", "fine"), _line("bad-param", "x", n=2), _line("bad-model", "x", model="acme/nope")]
    batch = client.batches.create(
        input_file_id=_upload(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )
    controls.advance(3600)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 2)
    assert (
        _results(client, batch.output_file_id)["ok"]["response"]["body"]["choices"][0]["message"]["content"]
        == "scripted answer"
    )
    errors = _results(client, batch.error_file_id)
    assert errors["bad-param"]["response"]["status_code"] == 400
    assert errors["bad-param"]["response"]["body"]["error"]["param"] == "n"
    assert errors["bad-model"]["response"]["status_code"] == 404


@pytest.mark.parametrize(
    "lines,code",
    [
        (["{not json"], "invalid_json_line"),
        ([_line("a", "x", model="acme/nope")], "model_not_found"),
    ],
)
def test_invalid_input_fails_batch(client: openai.OpenAI, controls, lines, code: str) -> None:
    batch = client.batches.create(
        input_file_id=_upload(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )
    controls.advance(60)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "failed" and batch.failed_at is not None
    assert batch.errors.data[0].code == code


@pytest.mark.kluster_emulator(tier="trial")
def test_over_tier_limit_fails_batch(client: openai.OpenAI, controls) -> None:
    lines = [_line(f"r{i}", "x") for i in range(1001)]
    batch = client.batches.create(
        input_file_id=_upload(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )
    controls.advance(60)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "failed" and batch.errors.data[0].code == "too_many_requests"


def test_cancel_goes_through_cancelling(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    controls.set_timing(STEPPED)
    lines = [_line(f"r{i}", f"q{i}") for i in range(5)]
    batch = client.batches.create(
        input_file_id=_upload(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )
    controls.advance(7)  # validated at 5s, two lines done
    batch = client.batches.cancel(batch.id, extra_body={})  # a bodiless cancel gets the observed 500
    assert batch.status == "cancelling" and batch.cancelling_at is not None
    controls.advance(30)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "cancelled" and batch.request_counts.completed == 2
    assert len(_results(client, batch.output_file_id)) == 2
    assert {r["error"]["code"] for r in _results(client, batch.error_file_id).values()} == {"batch_cancelled"}
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch.id, extra_body={})


def test_cancelling_a_scheduled_job_with_invalid_input_says_it_failed(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    controls.set_timing(STEPPED)
    batch = client.batches.create(
        input_file_id=_upload(client, ["{not json"]), endpoint="/v1/chat/completions", completion_window="24h"
    )
    with pytest.raises(openai.ConflictError, match="failed and cannot be cancelled"):
        client.batches.cancel(batch.id, extra_body={})  # still scheduling: validated now, and refused
    assert client.batches.retrieve(batch.id).status == "failed"


def test_batch_expires_past_completion_window(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    controls.set_timing("realistic")  # the uncapped pace: fast timing ends any job within seconds
    controls.timing.batch_per_line = 3600
    batch = client.batches.create(
        input_file_id=_upload(client, [_line(f"r{i}", "x") for i in range(3)]),
        endpoint="/v1/chat/completions",
        completion_window="1h",
    )
    controls.advance(3 * 3600)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "expired" and batch.expired_at == batch.expires_at
    assert {r["error"]["code"] for r in _results(client, batch.error_file_id).values()} == {"batch_expired"}


def test_list_batches_with_after_and_limit(client: openai.OpenAI) -> None:
    file_id = _upload(client, [_line("a", "x")])
    ids = [
        client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id
        for _ in range(3)
    ]
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    rest = client.batches.list(limit=2, after=first.data[-1].id)
    assert [b.id for b in rest.data] == [ids[0]] and not rest.has_more
    assert [b.id for b in client.batches.list(limit=1)] == ids[::-1]  # auto-paging follows `after`


def test_batch_errors_for_bad_requests(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("nope")
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="nope", endpoint="/v1/chat/completions", completion_window="24h")
    file_id = _upload(client, [_line("a", "x")])
    with pytest.raises(openai.BadRequestError):
        client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="2h")


def test_malformed_output_lines_fault(client: openai.OpenAI, controls) -> None:
    controls.corrupt_batch_output(lines=1)
    batch = client.batches.create(
        input_file_id=_upload(client, [_line("a", "x"), _line("b", "y")]),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    controls.advance(3600)
    text = client.files.content(client.batches.retrieve(batch.id).output_file_id).text
    bad = []
    for raw in text.splitlines():
        try:
            json.loads(raw)
        except ValueError:
            bad.append(raw)
    assert len(bad) == 1 and len(text.splitlines()) == 3


def test_adaptive_async_request_becomes_batch(client: openai.OpenAI, controls) -> None:
    completion = client.chat.completions.create(
        model="google/gemma-3-27b-it",
        messages=user("best stock?"),
        metadata={"@kluster.ai": {"async": True, "completion_window": "1h"}},  # type: ignore[dict-item]
    )
    assert completion.choices[0].message.content.startswith("Your request has been queued for adaptive inference")
    batch_id = completion.id.split("_")[0]
    controls.advance(3600)
    batch = client.batches.retrieve(batch_id)
    assert batch.status == "completed" and batch.metadata["@kluster.ai"]["completion_window"] == "1h"
    (row,) = _results(client, batch.output_file_id).values()
    assert row["response"]["body"]["choices"][0]["message"]["content"] == "[emulated] reply to: best stock?"


def test_a_job_runs_its_lines_in_parallel_and_keeps_them_on_disk(
    client: openai.OpenAI, controls, kluster_emulator
) -> None:
    """Progress scales with the work (1,000 lines at a time by default, 0.25 s each: 10,000 lines take
    10 waves, not 10,000 steps), every line is answered, and the stored job stays small while it runs
    (lines are spooled to disk, not kept in the job document)."""
    controls.clock.freeze()
    controls.set_timing(JobTiming())  # the defaults, not a test's stepping
    n = 10_000
    batch = client.batches.create(
        input_file_id=_upload(client, [_line(f"r{i}", f"question {i}") for i in range(n)]),
        endpoint="/v1/chat/completions",
        completion_window="1h",
    )
    controls.advance(1.0)  # scheduled
    assert client.batches.retrieve(batch.id).request_counts.completed == 0
    controls.advance(0.25)
    running = client.batches.retrieve(batch.id)
    assert running.status == "in_progress" and running.request_counts.completed == 1_000
    stored = kluster_emulator.runtime.store.get("batch", batch.id)
    assert len(json.dumps(stored)) < 2_000  # the answered lines are in the spool file, not in the document
    controls.advance(9 * 0.25)
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.request_counts.completed == n and done.error_file_id is None
    answered = _results(client, done.output_file_id)
    assert sorted(answered) == sorted(f"r{i}" for i in range(n))
    assert all(row["response"]["status_code"] == 200 for row in answered.values())
    assert not list(kluster_emulator.runtime.store.spool_dir.iterdir())  # work files removed at the end


@pytest.mark.slow
def test_a_tier_size_job_finishes_inside_the_window(client: openai.OpenAI, controls) -> None:
    """100,000 lines (the core tier's per-job maximum) at the default timing end well inside even
    the 1 h window: no line expires (it used to take one step per line)."""
    controls.clock.freeze()
    controls.set_timing(JobTiming())
    lines = 100_000
    data = "".join(json.dumps(_line(f"r{i}", "x")) + "\n" for i in range(lines)).encode()
    file_id = client.files.create(file=("input.jsonl", io.BytesIO(data)), purpose="batch").id
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="1h")
    controls.advance(1.0 + 100 * 0.25)
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.request_counts.completed == lines and done.error_file_id is None
    with client.files.with_streaming_response.content(done.output_file_id) as response:
        assert sum(1 for _ in response.iter_lines()) == lines
