"""LangChain adapter benchmarks (run: uv run pytest -m benchmark tests/benchmarks/test_langchain_overhead.py -s).

1. Per-call overhead: `ChatKluster` vs plain `ChatOpenAI`, both on the SAME httpx MockTransport
   answering a kluster-shaped completion, measured in one run (interleaved rounds, best round).
   Target: ChatKluster <= 1.05x ChatOpenAI.
2. `.batch()` of 1,000 inputs against the emulator: Batch API (`batch=True`) vs real time —
   HTTP requests sent and wall time.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import httpx
import pytest
from langchain_openai import ChatOpenAI

from kluster_agents.adapters.langchain import ChatKluster

pytestmark = pytest.mark.benchmark

MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
BASE_URL = "https://kluster.example/v1"
COMPLETION = {
    "id": "chat-1",
    "object": "chat.completion",
    "created": 1736136422,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "The capital of Argentina is Buenos Aires.", "tool_calls": []},
            "logprobs": None,
            "finish_reason": "stop",
            "stop_reason": None,
        }
    ],
    "usage": {"prompt_tokens": 48, "total_tokens": 57, "completion_tokens": 9},
    "prompt_logprobs": None,
}
MESSAGES = [("system", "You are a helpful assistant."), ("human", "What is the capital of Argentina?")]


def _transport() -> httpx.MockTransport:
    body = httpx.Response(200, json=COMPLETION).content
    return httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "application/json"})
    )


def _per_call_seconds(llm: Any, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        llm.invoke(MESSAGES)
    return (time.perf_counter() - start) / calls


def test_chat_kluster_overhead_vs_chat_openai() -> None:
    transport = _transport()
    common = {"model": MODEL, "base_url": BASE_URL, "api_key": "bench-key", "max_tokens": 100, "temperature": 0}
    ours = ChatKluster(**common, http_client=httpx.Client(transport=transport))
    plain = ChatOpenAI(**common, http_client=httpx.Client(transport=transport))
    assert ours.invoke(MESSAGES).text == plain.invoke(MESSAGES).text  # same transport, same answer
    warnings.simplefilter("ignore")
    rounds, calls = 7, 200
    ours_times, plain_times = [], []
    for _ in range(rounds):  # interleaved, so machine load hits both alike
        plain_times.append(_per_call_seconds(plain, calls))
        ours_times.append(_per_call_seconds(ours, calls))
    ours_best, plain_best = min(ours_times), min(plain_times)
    ratio = ours_best / plain_best
    print(
        f"\nper call: ChatKluster {ours_best * 1e3:.3f} ms, ChatOpenAI {plain_best * 1e3:.3f} ms, "
        f"ratio {ratio:.3f}x (best of {rounds} rounds x {calls} calls; target <= 1.05x)"
    )
    assert ratio < 1.5  # regression guard; the target is reported above


def test_batch_of_1000_via_batch_api_vs_real_time(kluster_emulator: Any) -> None:
    inputs = [f"Classify ticket {i}: the invoice total is wrong" for i in range(1000)]
    common = {
        "model": MODEL,
        "api_key": kluster_emulator.api_key,
        "base_url": kluster_emulator.base_url,
        "max_tokens": 32,
    }
    controls = kluster_emulator.controls

    controls.clear_requests()
    start = time.perf_counter()
    realtime = ChatKluster(**common).batch(inputs, config={"max_concurrency": 32})
    realtime_s, realtime_calls = time.perf_counter() - start, controls.count()

    controls.clear_requests()
    start = time.perf_counter()
    batched = ChatKluster(**common, batch=True).batch(inputs)
    batch_s, batch_calls = time.perf_counter() - start, controls.count()

    assert [m.text for m in batched] == [m.text for m in realtime]
    print(
        f"\n.batch() of {len(inputs)}: real time {realtime_calls} HTTP requests in {realtime_s:.2f} s "
        f"(max_concurrency=32); Batch API {batch_calls} HTTP requests in {batch_s:.2f} s "
        f"({realtime_calls / batch_calls:.0f}x fewer requests)"
    )
    assert batch_calls < 10
