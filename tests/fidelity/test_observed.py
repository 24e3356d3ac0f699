"""Every observed live-service fact (observed.py) checked twice: the emulator reproduces it, and our
client layers survive it — against the emulator and against a plain mock server serving the payload."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable

import httpx
import openai
import pytest
from typer.testing import CliRunner

from kluster_agents.integrations._api.catalog import VERIFY_MODEL
from kluster_agents.integrations._api.client import make_client
from kluster_agents.integrations._api.compat import prepare_chat_request
from kluster_agents.integrations._api.errors import KlusterServerError, error_from_response
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._jobs.batch.decode import batch_errors, build_result, line_ok
from kluster_agents.integrations._jobs.batch.submit import submit_batch
from kluster_agents.integrations._jobs.finetune import (
    cancel_finetune,
    parse_step_event,
    training_steps,
    wait_for_finetune,
)
from kluster_agents.integrations._jobs.polling import TERMINAL_STATUSES, wait_for_batch
from kluster_agents.integrations._verify.client import VerifyClient
from kluster_agents.integrations.emulator._control.controls import JobTiming
from kluster_agents.integrations.emulator._state.clock import EmulatedClock

from .observed import FACTS

LLAMA = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
BASE = "https://api.kluster.test/v1"


def _body(response: httpx.Response) -> dict:
    return {k: v for k, v in response.json().items() if k != "kluster_emulated"}


def _line(custom_id: str, **extra: object) -> dict:
    body = {"model": LLAMA, "messages": [{"role": "user", "content": f"q {custom_id}"}], **extra}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def _batch(client: openai.OpenAI, lines: list[dict]) -> str:
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    file_id = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch").id
    return client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id


@pytest.fixture
def emu(kluster_emulator):
    return kluster_emulator


@pytest.fixture
def client(emu) -> openai.OpenAI:
    return openai.OpenAI(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)


def test_every_fact_names_its_public_source() -> None:
    assert len(FACTS) >= 10
    for fact in FACTS.values():
        assert fact.source.startswith("kluster-ai/klusterai-cookbook") and fact.dates and fact.summary


# -- 1. an empty JSON body is refused with HTTP 500 --------------------------------------------------


@pytest.mark.parametrize("path", ["/batches/{id}/cancel", "/fine_tuning/jobs/{id}/cancel", "/uploads/{id}/cancel"])
def test_emulator_refuses_bodiless_json_post_like_the_service(emu, path: str) -> None:
    fact = FACTS["empty_body_cancel"].data
    response = httpx.post(
        emu.base_url + path.format(id="0123456789abcdef01234567"),
        headers={"Authorization": f"Bearer {emu.api_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == fact["status"] and _body(response) == fact["body"]


def test_sdk_cancel_without_a_body_fails_and_ours_works(emu, client) -> None:
    emu.controls.set_timing(JobTiming(batch_scheduling=60))
    batch_id = _batch(client, [_line("a")])
    with pytest.raises(openai.InternalServerError):
        client.batches.cancel(batch_id)  # what the plain SDK does
    handle = submit_batch([_line("b")["body"]], settings=emu.settings, journal=False)
    assert handle.cancel().status in ("cancelling", "cancelled")
    result = CliRunner().invoke(_cli_app(), ["batch", "cancel", batch_id], env=_cli_env(emu))
    assert result.exit_code == 0, result.output
    assert "cancelling" in result.output or "cancelled" in result.output
    other = _batch(client, [_line("c")])
    assert make_client(emu.settings).batches.cancel(other).status == "cancelling"  # no extra_body={} needed


def test_finetune_cancel_sends_a_body(emu, client) -> None:
    data = "\n".join(
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
        for _ in range(3)
    )
    file_id = client.files.create(file=("t.jsonl", io.BytesIO(data.encode())), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(training_file=file_id, model=LLAMA)
    assert cancel_finetune(job.id, settings=emu.settings).status == "cancelling"


def test_error_mapping_reads_the_empty_body_shape() -> None:
    fact = FACTS["empty_body_cancel"].data
    error = error_from_response(fact["status"], fact["body"])
    assert isinstance(error, KlusterServerError) and error.code == -1
    assert "Body cannot be empty" in error.message and "{}" in error.message


# -- 2/3/4/5. batches: lifecycle, errors [], output lines, real time ----------------------------------


def test_emulator_batch_lifecycle_matches_the_observed_one(emu, client) -> None:
    fact = FACTS["batch_lifecycle"].data
    emu.controls.set_timing(JobTiming(batch_scheduling=0.3, batch_per_line=0.1))
    batch_id = _batch(client, [_line("a"), _line("b")])
    seen = [client.batches.retrieve(batch_id)]
    while seen[-1].status not in TERMINAL_STATUSES:
        time.sleep(0.05)
        seen.append(client.batches.retrieve(batch_id))
    statuses = [b.status for b in seen]
    assert statuses[0] == fact["first_status"] and statuses[-1] == "completed"
    assert [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]] == fact["sequence"]
    assert not set(statuses) & set(fact["never"])
    final = seen[-1]
    assert final.in_progress_at == final.created_at and final.finalizing_at == final.completed_at
    assert all(b.errors == FACTS["batch_errors_list"].data["errors"] for b in seen)
    assert [b.errors for b in client.batches.list()] == [[]]


def test_emulator_output_lines_have_the_observed_shape(emu, client) -> None:
    fact = FACTS["batch_output_line"].data
    emu.controls.set_timing("instant")
    batch_id = _batch(client, [_line("a")])
    batch = client.batches.retrieve(batch_id)
    (line,) = [json.loads(raw) for raw in client.files.content(batch.output_file_id).text.splitlines()]
    assert sorted(line) == fact["keys"] and sorted(line["response"]) == fact["response_keys"]
    assert re.fullmatch(fact["id_pattern"], line["id"])
    assert re.fullmatch(fact["request_id_pattern"], line["response"]["request_id"])


def test_default_timing_shows_a_non_terminal_status_then_finishes_in_seconds(emu, client) -> None:
    started = time.monotonic()
    batch_id = _batch(client, [_line("a"), _line("b")])
    assert client.batches.retrieve(batch_id).status not in TERMINAL_STATUSES
    final = wait_for_batch(client, batch_id, poll_interval=0.1, timeout=15)
    assert final.status == "completed" and time.monotonic() - started < 10


def test_emulated_timestamps_stay_at_wall_clock(emu, client, monkeypatch) -> None:
    completion = client.chat.completions.create(model=LLAMA, messages=[{"role": "user", "content": "hi"}])
    assert abs(completion.created - time.time()) < 60
    clock = EmulatedClock()
    real_monotonic, real_time = time.monotonic(), time.time()
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic + 3600)  # an hour of uptime later
    monkeypatch.setattr(time, "time", lambda: real_time + 3600)
    assert abs(clock.now() - time.time()) < 60


def _served(*bodies: dict) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=queue.pop(0) if len(queue) > 1 else queue[0])

    return handler


def _batch_body(status: str, **extra: object) -> dict:
    return {
        "id": "b1",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": [],
        "input_file_id": "f1",
        "completion_window": "24h",
        "status": status,
        "created_at": 1,
        "request_counts": {"total": 2, "completed": 0, "failed": 0},
        **extra,
    }


def test_status_readers_survive_pre_schedule_unknown_statuses_and_errors_list() -> None:
    bodies = [_batch_body(s) for s in ("pre_schedule", "some_new_status", "in_progress", "completed")]
    http = httpx.Client(transport=httpx.MockTransport(_served(*bodies)))
    client = openai.OpenAI(api_key="k", base_url=BASE, http_client=http, max_retries=0)
    final = wait_for_batch(client, "b1", poll_interval=0)
    assert final.status == "completed" and batch_errors(final) == []


def test_result_decoding_needs_no_error_key_and_reads_both_errors_shapes() -> None:
    completion = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": LLAMA,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    }
    line = {"id": "0" * 24, "custom_id": "a", "response": {"status_code": 200, "request_id": "r", "body": completion}}
    assert line_ok(line)
    batch = openai.types.Batch.construct(**_batch_body("completed"))
    assert build_result(0, "a", True, json.dumps(line), batch).response.choices[0].message.content == "hi"
    documented = openai.types.Batch.construct(
        **_batch_body("failed", errors={"object": "list", "data": [{"code": "x", "message": "m", "line": 1}]})
    )
    assert batch_errors(documented)[0]["code"] == "x"


# -- 6. Verify through chat completions ---------------------------------------------------------------


def test_emulator_and_verify_conversation_on_the_failing_chat_shape(emu, client) -> None:
    fact = FACTS["verify_chat_500"].data
    messages = [{"role": r, "content": f"{r} text about Paris"} for r in fact["roles"]]
    raw = httpx.post(
        f"{emu.base_url}/chat/completions",
        json={"model": VERIFY_MODEL, "messages": messages},
        headers={"Authorization": f"Bearer {emu.api_key}"},
    )
    assert raw.status_code == fact["status"] and _body(raw) == fact["body"]
    error = error_from_response(fact["status"], fact["body"])
    assert error.code == 4000 and "Unexpected error occurred" in error.message
    result = VerifyClient(resolve_settings(emu.settings, max_retries=0)).verify_conversation(messages)
    assert result.source == "reliability" and result.status in ("reliable", "hallucination")


# -- 7/8/9. error shapes, JSON mode, filenames ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (FACTS["empty_body_cancel"].data["body"], -1),
        (FACTS["verify_chat_500"].data["body"], 4000),
        ({"error": {"message": "bad", "type": "invalid_request_error", "param": "n", "code": "x"}}, "x"),
    ],
)
def test_error_mapping_extracts_message_and_code_from_every_shape(body: dict, code: object) -> None:
    error = error_from_response(500, body)
    assert error.code == code and error.message and "no error message" not in error.message


def test_json_mode_is_sent_and_accepted_in_a_batch(emu, client) -> None:
    fmt = FACTS["json_mode_in_batch"].data["response_format"]
    body = prepare_chat_request(
        {"model": LLAMA, "messages": [{"role": "user", "content": "json"}], "response_format": fmt}
    )
    assert body["response_format"] == fmt
    emu.controls.set_timing("instant")
    batch = client.batches.retrieve(_batch(client, [{**_line("a"), "body": body}]))
    assert batch.request_counts.completed == 1 and batch.error_file_id is None


def test_uploaded_filename_and_upload_ids_are_server_generated(emu, client) -> None:
    fact = FACTS["server_filename"].data
    file = client.files.create(file=("mine.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    assert re.fullmatch(fact["filename_pattern"], client.files.retrieve(file.id).filename)
    upload = client.uploads.create(bytes=3, filename="mine.jsonl", mime_type="application/jsonl", purpose="batch")
    assert re.fullmatch(FACTS["ids_and_models"].data["upload_id_pattern"], upload.id)
    emu.controls.set_timing("instant")  # our engine never reads the client filename back
    handle = submit_batch([_line("x")["body"]], settings=emu.settings, journal=False)
    assert handle.results(timeout=10)[0].ok


# -- 10. fine-tuning -------------------------------------------------------------------------------------


def test_finetune_defaults_fields_events_and_our_loss_reading(emu, client) -> None:
    fact = FACTS["finetune"].data
    emu.controls.set_timing(JobTiming(finetune_validating=0.05, finetune_queued=0.05, finetune_per_step=0.01))
    data = "\n".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]})
        for i in range(3)
    )
    file_id = client.files.create(file=("t.jsonl", io.BytesIO(data.encode())), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(training_file=file_id, model=LLAMA)
    assert job.hyperparameters.model_dump(exclude_none=True) == fact["hyperparameters"]
    assert {k: job.model_dump()[k] for k in fact["fields"]} == fact["fields"]
    done = wait_for_finetune(job.id, settings=emu.settings, poll_interval=0.05, timeout=15, progress=True)
    assert done.status == "succeeded"
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    for pattern in fact["events"]:
        assert any(re.match(pattern, m) for m in messages), pattern
    steps = training_steps(job.id, settings=emu.settings)
    assert [s.step for s in steps] == list(range(1, 31)) and all(s.train_loss > 0 for s in steps)
    step = parse_step_event("Step 4/270: training loss=1.2345, validation loss=1.5")
    assert step is not None and (step.step, step.total, step.validation_loss) == (4, 270, 1.5)


# -- 11. models and ids ------------------------------------------------------------------------------------


def test_models_have_their_own_created_and_odd_completion_ids_parse(emu, client) -> None:
    created = [m.created for m in client.models.list()]
    assert len(set(created)) > 1
    completion = FACTS["ids_and_models"].data["completion"]
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=completion)))
    sdk = make_client(KlusterSettings.load(api_key="k" * 20, base_url=BASE), http_client=http)
    parsed = sdk.chat.completions.create(model=LLAMA, messages=[{"role": "user", "content": "x"}])
    assert parsed.choices[0].message.tool_calls[0].function.name == "multiply"


def _cli_app():
    from kluster_agents.integrations._cli.app import app

    return app


def _cli_env(emu) -> dict[str, str]:
    return {"KLUSTER_BASE_URL": emu.base_url, "KLUSTER_API_KEY": emu.api_key}
