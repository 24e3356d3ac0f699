"""Client-side tier limits through every adapter (issue 16.9): 200 concurrent calls against the
emulator with its rate limiter on. Per adapter it prints the 429s the emulator answered (goal 0)
and the throughput achieved as a fraction of what the limits allow (goal >= 95%).

Two scenarios, scaled down so each adapter runs in seconds:
- concurrency: 20 in flight, each answer held LATENCY s by the emulator; allowed = 20 / LATENCY per s;
- RPM: RPM requests per "minute", with the emulator's clock sped up SPEED x and the client's window
  shortened to match; allowed = the emulator's sliding window (RPM at once, RPM more a window later).
The SDK keeps its default retries, so a 429 costs time instead of an error; the count comes from
the emulator's request log.
Run: uv run pytest -m benchmark tests/benchmarks/test_rate_limit.py -s
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kluster_agents.integrations.api import limits
from kluster_agents.integrations.emulator.ratelimit import WINDOW_SECONDS
from kluster_agents.integrations.emulator.server import Emulator

pytestmark = pytest.mark.benchmark

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
CALLS = 200
CONCURRENCY, LATENCY = 20, 0.25
RPM, SPEED = 100, 30.0  # 100 requests per emulated minute; the minute lasts 2 s
BIG = 1_000_000

Caller = Callable[[int], Awaitable[Any]]


def _core() -> Caller:
    from kluster_agents.integrations.api.client import make_async_client

    client = make_async_client()

    async def call(i: int) -> Any:
        return await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}])

    return call


def _langchain() -> Caller:
    from kluster_agents.adapters.langchain import ChatKluster

    chat = ChatKluster(model=MODEL)

    async def call(i: int) -> Any:
        return await chat.ainvoke(f"q{i}")

    return call


def _litellm() -> Caller:
    import litellm

    from kluster_agents.adapters.litellm import register

    litellm.suppress_debug_info = True
    litellm.disable_hf_tokenizer_download = True
    register()

    async def call(i: int) -> Any:
        return await litellm.acompletion(model=f"kluster/{MODEL}", messages=[{"role": "user", "content": f"q{i}"}])

    return call


def _pydantic_ai() -> Caller:
    from pydantic_ai import Agent

    from kluster_agents.adapters.pydantic_ai import kluster_model

    agent = Agent(kluster_model(MODEL))

    async def call(i: int) -> Any:
        return await agent.run(f"q{i}")

    return call


def _crewai() -> Caller:
    from kluster_agents.adapters.crewai import kluster_llm

    llm = kluster_llm(MODEL)
    pool = ThreadPoolExecutor(max_workers=CALLS)  # CrewAI's LLM.call is sync: one thread per caller

    async def call(i: int) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, llm.call, f"q{i}")

    return call


ADAPTERS: dict[str, Callable[[], Caller]] = {
    "core": _core,
    "langchain": _langchain,
    "litellm": _litellm,
    "pydantic_ai": _pydantic_ai,
    "crewai": _crewai,
}


def _run(
    emulator: Emulator, make: Callable[[], Caller], calls: int = CALLS, gate: int | None = None
) -> tuple[int, int, float]:
    """(429s, other failures, seconds) for `calls` concurrent calls (`gate`: at most that many at once,
    held by the caller: the baseline an ideal limiter would reach)."""

    async def go() -> tuple[int, float]:
        call = make()
        emulator.controls.clear_requests()
        sem = asyncio.Semaphore(gate or calls)

        async def gated(i: int) -> Any:
            async with sem:
                return await call(i)

        started = time.perf_counter()
        results = await asyncio.gather(*(gated(i) for i in range(calls)), return_exceptions=True)
        elapsed = time.perf_counter() - started
        return sum(isinstance(r, BaseException) for r in results), elapsed

    failures, elapsed = asyncio.run(go())
    statuses = [r.status for r in emulator.controls.requests if r.path.endswith("/chat/completions")]
    return statuses.count(429), failures, elapsed


@pytest.fixture
def env(kluster_emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("KLUSTER_WARN_ON_DROP", "false")
    return kluster_emulator_env


def _report(title: str, rows: list[tuple[str, int, int, float, float]]) -> None:
    print(f"\n{title}")
    print(f"{'adapter':<12} {'429s':>5} {'failed':>7} {'seconds':>8} {'of allowed':>11}")
    for name, n429, failed, seconds, fraction in rows:
        print(f"{name:<12} {n429:>5} {failed:>7} {seconds:>8.2f} {fraction:>10.1%}")


WINDOW_S = limits.RPM_WINDOW_S


@pytest.mark.parametrize("scenario", ["concurrency", "rpm"])
def test_rate_limits_through_every_adapter(env: Emulator, monkeypatch: pytest.MonkeyPatch, scenario: str) -> None:
    """`of allowed` = the time an ideal limiter would take through that adapter on this machine / the time
    taken. Concurrency: the ideal is the caller holding an asyncio.Semaphore(20) with client limits off.
    RPM: the ideal is one emulator window per further wave plus one unlimited wave of RPM calls."""
    controls = env.controls
    rows: list[tuple[str, int, int, float, float]] = []
    for name, make in ADAPTERS.items():
        controls.clear_faults()
        limits._limiters.clear()  # fresh limiters for each adapter
        if scenario == "concurrency":
            controls.enable_rate_limits(rpm=BIG, concurrency=CONCURRENCY)
            controls.add_latency(LATENCY, path="/chat/completions")
            monkeypatch.setenv("KLUSTER_CLIENT_RATE_LIMIT", "false")
            _, _, ideal = _run(env, make, gate=CONCURRENCY)
            monkeypatch.setenv("KLUSTER_CLIENT_RATE_LIMIT", "true")
            monkeypatch.setenv("KLUSTER_CLIENT_RPM", str(BIG))
            monkeypatch.setenv("KLUSTER_CLIENT_CONCURRENCY", str(CONCURRENCY))
            controls.enable_rate_limits(rpm=BIG, concurrency=CONCURRENCY)
        else:
            controls.clock.set_speed(1.0)
            controls.disable_rate_limits()
            monkeypatch.setenv("KLUSTER_CLIENT_RATE_LIMIT", "false")
            _, _, wave = _run(env, make, calls=RPM)
            ideal = (math.ceil(CALLS / RPM) - 1) * WINDOW_SECONDS / SPEED + wave
            monkeypatch.setenv("KLUSTER_CLIENT_RATE_LIMIT", "true")
            controls.clock.set_speed(SPEED)
            controls.enable_rate_limits(rpm=RPM, concurrency=BIG)
            # the client's "minute" shrinks with the emulator's (keeping its one-second-in-61 margin)
            monkeypatch.setattr(limits, "RPM_WINDOW_S", WINDOW_S / SPEED)
            monkeypatch.setenv("KLUSTER_CLIENT_RPM", str(RPM))
            monkeypatch.setenv("KLUSTER_CLIENT_CONCURRENCY", str(BIG))
        n429, failed, seconds = _run(env, make)
        rows.append((name, n429, failed, seconds, ideal / seconds))
    _report(f"{CALLS} concurrent calls, {scenario} limit", rows)
    assert all(failed == 0 for _, _, failed, _, _ in rows)
