"""LangChain adapter benchmarks (run: uv run pytest -m benchmark tests/benchmarks/test_langchain_overhead.py -s).

1. Per-call overhead, `invoke`, `ainvoke` and `stream`: `ChatKluster` vs plain `ChatOpenAI` (the baseline),
   each through its own default HTTP stack to ONE real local server (`_chat_server`, its own process,
   answering a kluster-shaped completion or SSE stream), so our transport hooks (rate limiter,
   stream usage) are measured. ChatKluster runs on the enterprise tier of the catalog (no RPM limit,
   100 concurrent requests per model): the limiter admits and releases every request, and never makes
   one wait, since one request is in flight at a time. `ChatOpenAI(stream_usage=True)` asks for stream
   usage as ChatKluster does, so both read the same stream. Goal: <= 1.03x each.
2. Construction: `ChatKluster(...)` vs `ChatOpenAI(...)` with the same arguments and default HTTP
   clients. Goal: <= 2x.
3. `.batch()` of 1,000 inputs against the emulator: Batch API (`batch=True`) vs real time, HTTP
   requests sent and wall time, on the enterprise tier (on the default core tier the client limiter
   paces 1,000 real-time requests at 600 RPM, about 100 s: the tier's limit, not overhead).

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
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_openai import ChatOpenAI

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations._api.settings import KlusterSettings

from ._chat_server import MODEL, REPLY, chat_server

pytestmark = pytest.mark.benchmark

MESSAGES = [("system", "You are a helpful assistant."), ("human", "What is the capital of Argentina?")]
COMMON = {"model": MODEL, "api_key": "bench-key", "max_tokens": 100, "temperature": 0}
TIER = "enterprise"  # no RPM limit: the limiter's hooks run, its pacing never waits (one request at a time)
ROUNDS = int(os.environ.get("LC_BENCH_ROUNDS", "31"))
CALLS = 50
CALL_GOAL, CONSTRUCTION_GOAL = 1.03, 2.0
# CPU seconds of this process: other processes on a loaded machine (the server included) distort it
# far less than wall time. LC_BENCH_CLOCK=wall measures wall time instead.
_clock = time.perf_counter if os.environ.get("LC_BENCH_CLOCK") == "wall" else time.process_time


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with chat_server() as url:
        yield url


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


def _models(base_url: str) -> tuple[ChatKluster, ChatOpenAI]:
    settings = KlusterSettings.load(api_key="bench-key", base_url=base_url, tier=TIER, warn_on_drop=False)
    return ChatKluster(**COMMON, settings=settings), ChatOpenAI(**COMMON, base_url=base_url, stream_usage=True)


def _per_call(run: Callable[[Any], None], llm: Any) -> Callable[[], float]:
    def timed() -> float:
        start = _clock()
        for _ in range(CALLS):
            run(llm)
        return (_clock() - start) / CALLS

    return timed


def test_chat_kluster_per_call_overhead_vs_chat_openai_sync(base_url: str) -> None:
    ours, plain = _models(base_url)
    assert ours.invoke(MESSAGES).text == plain.invoke(MESSAGES).text == REPLY  # same server, same answer
    warnings.simplefilter("ignore")
    result = _interleaved(
        _per_call(lambda llm: llm.invoke(MESSAGES), ours), _per_call(lambda llm: llm.invoke(MESSAGES), plain), ROUNDS
    )
    _report(f"invoke per call ({CALLS} calls a round, real local server, {TIER} tier)", 1e3, "ms", result, CALL_GOAL)
    assert result["ratio"] <= CALL_GOAL


def test_chat_kluster_per_call_overhead_vs_chat_openai_stream(base_url: str) -> None:
    ours, plain = _models(base_url)

    def streamed(llm: Any) -> Any:
        final = None
        for chunk in llm.stream(MESSAGES):
            final = chunk if final is None else final + chunk
        return final

    a, b = streamed(ours), streamed(plain)
    assert a.text == b.text == REPLY and a.usage_metadata and b.usage_metadata  # the same stream, usage included
    warnings.simplefilter("ignore")
    result = _interleaved(_per_call(streamed, ours), _per_call(streamed, plain), ROUNDS)
    _report(f"stream per call ({CALLS} calls a round, real local server, {TIER} tier)", 1e3, "ms", result, CALL_GOAL)
    assert result["ratio"] <= CALL_GOAL


def test_chat_kluster_per_call_overhead_vs_chat_openai_async(base_url: str) -> None:
    ours, plain = _models(base_url)
    loop = asyncio.new_event_loop()
    try:
        assert (
            loop.run_until_complete(ours.ainvoke(MESSAGES)).text
            == loop.run_until_complete(plain.ainvoke(MESSAGES)).text
            == REPLY
        )
        warnings.simplefilter("ignore")

        async def calls_of(llm: Any) -> float:
            start = _clock()
            for _ in range(CALLS):
                await llm.ainvoke(MESSAGES)
            return (_clock() - start) / CALLS

        result = _interleaved(
            lambda: loop.run_until_complete(calls_of(ours)), lambda: loop.run_until_complete(calls_of(plain)), ROUNDS
        )
    finally:
        loop.close()
    _report(
        f"ainvoke per call ({CALLS} calls a round, one event loop, real local server, {TIER} tier)",
        1e3,
        "ms",
        result,
        CALL_GOAL,
    )
    assert result["ratio"] <= CALL_GOAL


def test_chat_kluster_construction_vs_chat_openai() -> None:
    warnings.simplefilter("ignore")
    builds = 200

    def timed(cls: Any) -> Callable[[], float]:
        def run() -> float:
            start = _clock()
            for _ in range(builds):
                cls(**COMMON, base_url="https://kluster.example/v1")
            return (_clock() - start) / builds

        return run

    result = _interleaved(timed(ChatKluster), timed(ChatOpenAI), ROUNDS)
    _report(f"construction ({builds} models a round, default HTTP clients)", 1e3, "ms", result, CONSTRUCTION_GOAL)
    assert result["ratio"] <= CONSTRUCTION_GOAL


@pytest.mark.kluster_emulator(tier=TIER)
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
        f"\n.batch() of {len(inputs)} ({TIER} tier, emulator in this process): real time {realtime_calls} HTTP requests in {realtime_s:.2f} s "
        f"(max_concurrency=32); Batch API {batch_calls} HTTP requests in {batch_s:.2f} s "
        f"({realtime_calls / batch_calls:.0f}x fewer requests)"
    )
    assert batch_calls < 10
