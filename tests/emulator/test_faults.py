"""Injected faults: latency, 5xx for N requests / a fraction / a path, dropped connections,
truncated streams — and that the SDK's retries recover from transient ones."""

from __future__ import annotations

import time

import openai
import pytest

from .helpers import LLAMA_8B, user


def _chat(client: openai.OpenAI, text: str = "hi"):
    return client.chat.completions.create(model=LLAMA_8B, messages=user(text))


@pytest.mark.parametrize(
    "status,error", [(500, openai.InternalServerError), (502, openai.APIStatusError), (503, openai.APIStatusError)]
)
def test_status_faults_for_n_requests(client: openai.OpenAI, controls, status: int, error) -> None:
    controls.fail(status, times=2)
    for _ in range(2):
        with pytest.raises(error) as info:
            _chat(client)
        assert info.value.status_code == status and info.value.response.headers["x-kluster-emulator"] == "true"
    assert _chat(client)


def test_sdk_retries_recover_from_transient_503(kluster_emulator, controls) -> None:
    controls.fail(503, times=1)
    retrying = openai.OpenAI(base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key, max_retries=2)
    assert retrying.chat.completions.create(model=LLAMA_8B, messages=user("x"))
    assert controls.count("/chat/completions") == 2


def test_fault_per_path_and_fraction(client: openai.OpenAI, controls) -> None:
    controls.fail(500, times=None, path="/models")
    assert _chat(client)
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    controls.clear_faults()
    controls.fail(500, times=None, fraction=0.5, path="/chat/completions")
    outcomes = []
    for _ in range(40):
        try:
            _chat(client)
            outcomes.append(True)
        except openai.InternalServerError:
            outcomes.append(False)
    assert 5 < outcomes.count(False) < 35


def test_latency(client: openai.OpenAI, controls) -> None:
    fault = controls.add_latency(0.2, times=1)
    start = time.perf_counter()
    _chat(client)
    assert time.perf_counter() - start >= 0.2  # a lower bound holds however loaded the machine is
    assert fault.times == 0 and controls.faults.take("latency", "/v1/chat/completions") is None  # used up


def test_dropped_connection(client: openai.OpenAI, controls) -> None:
    controls.drop_connections(times=1)
    with pytest.raises(openai.APIConnectionError):
        _chat(client)
    assert _chat(client)


def test_truncated_stream_has_no_done(client: openai.OpenAI, controls) -> None:
    controls.truncate_streams(after_chunks=2)
    chunks = list(
        client.chat.completions.create(model=LLAMA_8B, messages=user("a fairly long answer please"), stream=True)
    )
    assert len(chunks) == 2 and all(c.choices[0].finish_reason is None for c in chunks)
    full = list(client.chat.completions.create(model=LLAMA_8B, messages=user("again"), stream=True))
    assert full[-1].choices[0].finish_reason == "stop"
