"""LangChain adapter benchmarks (run: uv run pytest -m benchmark tests/benchmarks/test_langchain_overhead.py -s).

1. Per-call overhead, sync `invoke` and async `ainvoke`: `ChatKluster` vs plain `ChatOpenAI`, both on
   the SAME httpx MockTransport answering a kluster-shaped completion. Goal: <= 1.03x each.
2. Construction: `ChatKluster(...)` vs `ChatOpenAI(...)` with the same arguments and default HTTP
   clients (each model used to build its own pool and SSL context). Goal: <= 2x.
3. `.batch()` of 1,000 inputs against the emulator: Batch API (`batch=True`) vs real time —
   HTTP requests sent and wall time.

Candidates alternate within every round (their order swapping each round) so that machine load
hits both alike; each figure is the median over the rounds with its spread (min-max), and the
ratio is the median of the per-round ratios. Times are CPU time of this process (see `_clock`);
`LC_BENCH_ROUNDS` changes the number of rounds.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import warnings
from collections.abc import Callable
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
COMMON = {"model": MODEL, "base_url": BASE_URL, "api_key": "bench-key", "max_tokens": 100, "temperature": 0}
ROUNDS = int(os.environ.get("LC_BENCH_ROUNDS", "31"))
CALL_GOAL, CONSTRUCTION_GOAL = 1.03, 2.0
# CPU seconds of this process: the work is CPU-bound (a mock transport), and other processes on a
# loaded machine distort it far less than wall time. LC_BENCH_CLOCK=wall measures wall time instead.
_clock = time.perf_counter if os.environ.get("LC_BENCH_CLOCK") == "wall" else time.process_time


def _transport() -> httpx.MockTransport:
    body = httpx.Response(200, json=COMPLETION).content
    return httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "application/json"})
    )


def _interleaved(ours: Callable[[], float], plain: Callable[[], float], rounds: int) -> dict[str, Any]:
    """Run both once per round (order swapped each round, after one warm-up each); medians, spreads
    and the median of the paired per-round ratios."""
    ours(), plain()
    ours_s: list[float] = []
    plain_s: list[float] = []
    for i in range(rounds):
        if i % 2:
            ours_s.append(ours())
            plain_s.append(plain())
        else:
            plain_s.append(plain())
            ours_s.append(ours())
    ratios = [o / p for o, p in zip(ours_s, plain_s, strict=True)]
    return {"ours": ours_s, "plain": plain_s, "ratio": statistics.median(ratios), "ratios": ratios}


def _report(label: str, unit: float, unit_name: str, result: dict[str, Any], goal: float) -> None:
    def fig(samples: list[float]) -> str:
        return (
            f"{statistics.median(samples) * unit:.3f} {unit_name} ({min(samples) * unit:.3f}-{max(samples) * unit:.3f})"
        )

    ratios = result["ratios"]
    print(
        f"\n{label}: ChatKluster {fig(result['ours'])}, ChatOpenAI {fig(result['plain'])}; "
        f"ratio {result['ratio']:.3f}x (rounds {min(ratios):.3f}-{max(ratios):.3f}; "
        f"median of {len(ratios)} interleaved rounds, {_clock.__name__}; goal <= {goal}x)"
    )


def _models() -> tuple[ChatKluster, ChatOpenAI]:
    transport = _transport()
    clients = {
        "http_client": httpx.Client(transport=transport),
        "http_async_client": httpx.AsyncClient(transport=transport),
    }
    return ChatKluster(**COMMON, **clients), ChatOpenAI(**COMMON, **clients)


def test_chat_kluster_per_call_overhead_vs_chat_openai_sync() -> None:
    ours, plain = _models()
    assert ours.invoke(MESSAGES).text == plain.invoke(MESSAGES).text  # same transport, same answer
    warnings.simplefilter("ignore")
    calls = 50

    def timed(llm: Any) -> Callable[[], float]:
        def run() -> float:
            start = _clock()
            for _ in range(calls):
                llm.invoke(MESSAGES)
            return (_clock() - start) / calls

        return run

    result = _interleaved(timed(ours), timed(plain), ROUNDS)
    _report(f"invoke per call ({calls} calls a round)", 1e3, "ms", result, CALL_GOAL)
    assert result["ratio"] <= CALL_GOAL


def test_chat_kluster_per_call_overhead_vs_chat_openai_async() -> None:
    ours, plain = _models()
    loop = asyncio.new_event_loop()
    try:
        assert (
            loop.run_until_complete(ours.ainvoke(MESSAGES)).text
            == loop.run_until_complete(plain.ainvoke(MESSAGES)).text
        )
        warnings.simplefilter("ignore")
        calls = 50

        async def calls_of(llm: Any) -> float:
            start = _clock()
            for _ in range(calls):
                await llm.ainvoke(MESSAGES)
            return (_clock() - start) / calls

        result = _interleaved(
            lambda: loop.run_until_complete(calls_of(ours)), lambda: loop.run_until_complete(calls_of(plain)), ROUNDS
        )
    finally:
        loop.close()
    _report(f"ainvoke per call ({calls} calls a round, one event loop)", 1e3, "ms", result, CALL_GOAL)
    assert result["ratio"] <= CALL_GOAL


def test_chat_kluster_construction_vs_chat_openai() -> None:
    warnings.simplefilter("ignore")
    builds = 200

    def timed(cls: Any) -> Callable[[], float]:
        def run() -> float:
            start = _clock()
            for _ in range(builds):
                cls(**COMMON)
            return (_clock() - start) / builds

        return run

    result = _interleaved(timed(ChatKluster), timed(ChatOpenAI), ROUNDS)
    _report(f"construction ({builds} models a round, default HTTP clients)", 1e3, "ms", result, CONSTRUCTION_GOAL)
    assert result["ratio"] <= CONSTRUCTION_GOAL


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
