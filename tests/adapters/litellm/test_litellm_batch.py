"""Batch API through LiteLLM's file/batch functions and through `batch_completion_via_api`."""

from __future__ import annotations

import asyncio
import json
import time

import litellm
import pytest
from litellm.types.utils import ModelResponse
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from kluster_agents.adapters.litellm import (
    abatch_completion_via_api,
    batch_completion_via_api,
    batch_file_line,
    batch_kwargs,
    kluster_status,
)
from kluster_agents.adapters.litellm._batch import _responses
from kluster_agents.adapters.litellm._batch_shapes import litellm_batch_view
from kluster_agents.integrations import KlusterBatchError, KlusterConfigError, KlusterUnsupportedError
from kluster_agents.integrations._jobs.batch.decode import BatchResult

from .conftest import GEMMA, LLAMA

MODEL = f"kluster/{LLAMA}"


def test_batch_kwargs_always_name_kluster(emulator):
    assert batch_kwargs() == {
        "custom_llm_provider": "openai",
        "api_base": emulator.base_url,
        "api_key": emulator.api_key,
    }


def test_batch_kwargs_without_a_key_refuse(monkeypatch):
    with pytest.raises(KlusterConfigError):  # never silently OpenAI's key and URL
        batch_kwargs()


@pytest.mark.filterwarnings(
    "ignore::kluster_agents.integrations._api.compat.KlusterCompatWarning"
)  # the drop is the point
def test_batch_file_line_goes_through_compat():
    line = json.loads(
        batch_file_line(
            "a",
            {
                "model": MODEL,
                "max_tokens": 5,
                "store": True,
                "messages": [{"role": "user", "content": "x", "name": "n"}],
            },
        )
    )
    assert line["custom_id"] == "a" and line["url"] == "/v1/chat/completions"
    assert line["body"] == {"model": LLAMA, "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 5}
    with pytest.raises(KlusterUnsupportedError):
        batch_file_line("b", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 2})


def _upload(tmp_path, questions: list[str], kwargs: dict[str, str]):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b"".join(
            batch_file_line(f"q{i}", {"model": MODEL, "messages": [{"role": "user", "content": q}]})
            for i, q in enumerate(questions)
        )
    )
    with path.open("rb") as f:
        return litellm.create_file(file=f, purpose="batch", **kwargs)


def test_litellm_file_and_batch_functions_against_kluster(emulator, tmp_path):
    # The emulator answers as the live service was observed to (tests/fidelity/observed.py): status 'pre_schedule', errors [],
    # output lines without an `error` key. LiteLLM's strict LiteLLMBatch sees them through batch_shapes.
    # The job's time moves only between polls (frozen clock, 0.05 s a step), so every phase is seen
    # however slowly a loaded machine polls.
    emulator.controls.clock.freeze()
    kwargs = batch_kwargs()
    uploaded = _upload(tmp_path, ["one", "two"], kwargs)
    batch = litellm.create_batch(
        completion_window="24h", endpoint="/v1/chat/completions", input_file_id=uploaded.id, **kwargs
    )
    created = emulator.controls.requests[-1]
    assert created.path == "/v1/batches"
    assert batch.status == "validating" and kluster_status(batch) == "pre_schedule" and batch.errors is None
    seen = {kluster_status(batch)}
    for _ in range(1000):
        if batch.status == "completed":
            break
        emulator.controls.advance(0.05)
        batch = litellm.retrieve_batch(batch_id=batch.id, **kwargs)
        seen.add(kluster_status(batch))
    assert batch.status == "completed" and "in_progress" in seen  # polled through the observed sequence
    rows = [
        json.loads(line) for line in litellm.file_content(file_id=batch.output_file_id, **kwargs).content.splitlines()
    ]
    assert {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"] for r in rows} == {
        "q0": "[emulated] reply to: one",
        "q1": "[emulated] reply to: two",
    }
    paths = [(r.method, r.path.rsplit("/", 1)[0] if r.method == "GET" else r.path) for r in emulator.controls.requests]
    assert ("POST", "/v1/files") in paths and ("POST", "/v1/batches") in paths


def test_litellm_cancel_batch_sends_a_json_body(emulator, tmp_path):
    emulator.controls.clock.freeze()  # keep the job unfinished until it is cancelled
    kwargs = batch_kwargs()
    uploaded = _upload(tmp_path, ["one", "two", "three"], kwargs)
    batch = litellm.create_batch(
        completion_window="24h", endpoint="/v1/chat/completions", input_file_id=uploaded.id, **kwargs
    )
    cancelled = litellm.cancel_batch(batch_id=batch.id, **kwargs)
    cancel = [r for r in emulator.controls.requests if r.path.endswith("/cancel")]
    assert len(cancel) == 1 and cancel[0].body == {}  # openai's bodiless cancel is a 500 on the live service
    assert cancelled.status in {"cancelling", "cancelled"} and cancelled.id == batch.id
    listed = litellm.list_batches(**kwargs)
    assert batch.id in {b.id for b in listed.data}


async def test_litellm_async_batch_functions_against_kluster(emulator, tmp_path):
    kwargs = batch_kwargs()
    uploaded = _upload(tmp_path, ["a"], kwargs)
    batch = await litellm.acreate_batch(
        completion_window="24h", endpoint="/v1/chat/completions", input_file_id=uploaded.id, **kwargs
    )
    assert kluster_status(batch) == "pre_schedule"
    deadline = time.monotonic() + 10
    while batch.status != "completed" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        batch = await litellm.aretrieve_batch(batch_id=batch.id, **kwargs)
    assert batch.status == "completed" and batch.output_file_id


def test_batch_view_keeps_what_openai_accepts_and_the_real_status():
    live = {"id": "b", "object": "batch", "status": "pre_schedule", "errors": []}
    assert litellm_batch_view(live) == {
        **live,
        "status": "validating",
        "errors": None,
        "kluster_status": "pre_schedule",
    }
    assert litellm_batch_view({"status": "someday"})["status"] == "in_progress"  # unknown never looks finished
    assert litellm_batch_view({"status": "completed", "errors": [{"message": "x"}]})["errors"] == {
        "object": "list",
        "data": [{"message": "x"}],
    }
    documented = {"status": "failed", "errors": {"object": "list", "data": []}}
    assert litellm_batch_view(documented) == {**documented, "kluster_status": "failed"}


def test_batch_completion_via_api_returns_model_responses_in_order(emulator):
    questions = [f"question {i}" for i in range(5)]
    responses = batch_completion_via_api(
        [
            {"model": MODEL, "messages": [{"role": "user", "content": q}], "custom_id": f"id-{i}"}
            for i, q in enumerate(questions)
        ],
        journal=False,
        poll_interval=0.02,
    )
    assert all(isinstance(r, ModelResponse) for r in responses)
    assert [r.choices[0].message.content for r in responses] == [f"[emulated] reply to: {q}" for q in questions]
    assert emulator.controls.count("/chat/completions") == 0  # no real-time calls: one batch job
    assert emulator.controls.count("/batches", "POST") == 1


async def test_async_batch_completion(emulator):
    responses = await abatch_completion_via_api(
        [{"model": LLAMA, "messages": [{"role": "user", "content": "a"}]}], journal=False, poll_interval=0.02
    )
    assert responses[0].choices[0].message.content == "[emulated] reply to: a"


class Person(BaseModel):
    name: str
    age: int


@pytest.mark.parametrize("model", [LLAMA, GEMMA], ids=["tool-call", "prompted-json"])
def test_batch_structured_output_as_in_real_time(emulator, model):
    """`response_format=<pydantic class>` in a batch: the schema goes as a forced tool call (or prompted
    JSON on a model without tools), never as a json_schema kluster does not take; content is the JSON."""
    (response,) = batch_completion_via_api(
        [
            {
                "model": f"kluster/{model}",
                "messages": [{"role": "user", "content": "Ada, 36"}],
                "response_format": Person,
            }
        ],
        journal=False,
        poll_interval=0.02,
    )
    assert isinstance(Person.model_validate_json(response.choices[0].message.content), Person)


def test_failed_lines_raise_or_take_their_place():
    ok = ChatCompletion.model_validate(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": LLAMA,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
        }
    )
    error = KlusterBatchError("line failed: bad input", custom_id="b")
    results = [BatchResult("a", 0, "succeeded", ok), BatchResult("b", 1, "failed", error=error)]
    mixed = _responses(results, [None, None], return_exceptions=True)
    assert mixed[0].choices[0].message.content == "fine" and mixed[1] is error
    with pytest.raises(KlusterBatchError) as caught:
        _responses(results, [None, None], return_exceptions=False)
    assert caught.value.custom_id == "b"


def test_only_clients_for_kluster_base_urls_are_made_lenient(emulator):
    from litellm.llms.openai.openai import OpenAIBatchesAPI

    from kluster_agents.adapters.litellm._batch_shapes import LenientBatchTransport

    batch_kwargs()  # installs for the emulator's base URL
    api = OpenAIBatchesAPI()
    common = {"api_key": "k", "timeout": 5.0, "max_retries": 0, "organization": None}
    kluster = api.get_openai_client(api_base=emulator.base_url, **common)
    openai_com = api.get_openai_client(api_base="https://api.openai.com/v1", **common)
    assert isinstance(kluster._client._transport, LenientBatchTransport)
    assert not isinstance(openai_com._client._transport, LenientBatchTransport)
