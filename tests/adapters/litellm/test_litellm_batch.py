"""Batch API through LiteLLM's file/batch functions and through `batch_completion_via_api`."""

from __future__ import annotations

import json
import time

import litellm
import pytest
from litellm.types.utils import ModelResponse
from openai.types.chat import ChatCompletion

from kluster_agents.adapters.litellm import (
    abatch_completion_via_api,
    batch_completion_via_api,
    batch_file_line,
    batch_kwargs,
)
from kluster_agents.adapters.litellm.batch import _responses
from kluster_agents.integrations import KlusterBatchError, KlusterConfigError, KlusterUnsupportedError
from kluster_agents.integrations.jobs.batch_results import BatchResult

from .conftest import LLAMA

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


@pytest.mark.xfail(
    strict=True,
    reason="issue 14 (open): litellm's LiteLLMBatch validates strictly and rejects the live service's "
    "status 'pre_schedule' and errors [] (the emulator reproduces both); the adapter needs a lenient path",
)
def test_litellm_file_and_batch_functions_against_kluster(emulator, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b"".join(
            batch_file_line(f"q{i}", {"model": MODEL, "messages": [{"role": "user", "content": q}]})
            for i, q in enumerate(["one", "two"])
        )
    )
    kwargs = batch_kwargs()
    with path.open("rb") as f:
        uploaded = litellm.create_file(file=f, purpose="batch", **kwargs)
    batch = litellm.create_batch(
        completion_window="24h", endpoint="/v1/chat/completions", input_file_id=uploaded.id, **kwargs
    )
    deadline = time.monotonic() + 10
    while batch.status != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
        batch = litellm.retrieve_batch(batch_id=batch.id, **kwargs)
    rows = [
        json.loads(line) for line in litellm.file_content(file_id=batch.output_file_id, **kwargs).content.splitlines()
    ]
    assert {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"] for r in rows} == {
        "q0": "[emulated] reply to: one",
        "q1": "[emulated] reply to: two",
    }
    paths = [(r.method, r.path.rsplit("/", 1)[0] if r.method == "GET" else r.path) for r in emulator.controls.requests]
    assert ("POST", "/v1/files") in paths and ("POST", "/v1/batches") in paths


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
    mixed = _responses(results, return_exceptions=True)
    assert mixed[0].choices[0].message.content == "fine" and mixed[1] is error
    with pytest.raises(KlusterBatchError) as caught:
        _responses(results, return_exceptions=False)
    assert caught.value.custom_id == "b"
