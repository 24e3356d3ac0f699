"""The service's limits tighter than the catalog's: the client-side limiter learns them from the 429s.

With the emulator enforcing a concurrency far below the tier's catalog number, every chat path
(core client, LangChain `ainvoke`/`astream`, PydanticAI `Agent.run`) must deliver every call: the
first burst is refused, the limiter lowers its concurrency, and the SDK's own retries go through.
The learning itself is checked on a fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kluster_agents.integrations._api import limits
from kluster_agents.integrations._api.limiter_registry import limiter_for
from kluster_agents.integrations._api.limits import RateLimiter
from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import MODEL

CALLS = 40
SERVICE_CONCURRENCY = 3  # the catalog's is 100 on the emulator's default tier


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _refuse(limiter: RateLimiter, *, per_minute: bool, admitted: int) -> None:
    """Admit `admitted` requests, have the service refuse the last one, release them all."""
    holds = [limiter.acquire() for _ in range(admitted)]
    for hold in holds:
        hold.sent()
    limiter.saw_429(1.0, holds[-1], "Rate limit reached: 30 requests per minute." if per_minute else "Too many")
    for hold in holds:
        hold.release()


def test_a_concurrency_429_halves_concurrency_and_a_clean_window_raises_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, 20, clock=clock)
    _refuse(limiter, per_minute=False, admitted=9)  # refused with 8 others in flight
    assert limiter.concurrency == 4
    clock.now += limits.RPM_WINDOW_S - 1
    limiter.acquire().release()
    assert limiter.concurrency == 4  # not yet a whole window without a 429
    clock.now += 1
    limiter.acquire().release()
    assert limiter.concurrency == 5  # + 5% of the ceiling of 20
    for _ in range(40):
        clock.now += limits.RPM_WINDOW_S
        limiter.acquire().release()
    assert limiter.concurrency == limiter.max_concurrency == 20  # never above the catalog's


def test_the_lowered_concurrency_is_enforced() -> None:
    limiter = RateLimiter(None, 20, clock=FakeClock())
    _refuse(limiter, per_minute=False, admitted=4)
    assert limiter.concurrency == 1
    first = limiter.acquire()
    assert limiter._slots is not None and limiter._slots._free == 0  # a second caller would wait
    first.release()
    limiter.acquire().release()


def test_a_burst_of_429s_lowers_once() -> None:
    """Every request admitted under the old limit comes back refused: one reaction, not one per 429."""
    limiter = RateLimiter(None, 16, clock=FakeClock())
    holds = [limiter.acquire() for _ in range(16)]
    for hold in reversed(holds):  # the last admitted, with 15 others in flight, comes back first
        limiter.saw_429(1.0, hold, "Too many concurrent requests")
    assert limiter.concurrency == 7
    assert limiter.rate_limited == 16
    for hold in holds:
        hold.release()


def test_a_lone_429_teaches_nothing() -> None:
    """Refused with nothing else in flight: not our concurrency (an injected fault, another process)."""
    for per_minute in (False, True):
        limiter = RateLimiter(30, 20, clock=FakeClock())
        _refuse(limiter, per_minute=per_minute, admitted=1)
        assert (limiter.rpm, limiter.concurrency) == (30, 20)


def test_a_per_minute_429_lowers_rpm_to_what_the_window_held() -> None:
    clock = FakeClock()
    limiter = RateLimiter(30, None, clock=clock)
    _refuse(limiter, per_minute=True, admitted=7)  # the service counted 6 and refused the 7th
    assert limiter.rpm == 6
    assert limiter._window is not None and limiter._window.try_book()[1] is None  # the window is full
    clock.now += limits.RPM_WINDOW_S
    assert limiter._window.try_book()[1] is not None
    limiter.acquire().release()
    assert limiter.rpm == 8  # + 5% of 30, rounded


Caller = Callable[[int], Awaitable[Any]]


def _core() -> Caller:
    from kluster_agents.integrations._api.client import make_async_client

    client = make_async_client()

    async def call(i: int) -> Any:
        return await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}])

    return call


def _langchain_ainvoke() -> Caller:
    from kluster_agents.adapters.langchain import ChatKluster

    chat = ChatKluster(model=MODEL)

    async def call(i: int) -> Any:
        return await chat.ainvoke(f"q{i}")

    return call


def _langchain_astream() -> Caller:
    from kluster_agents.adapters.langchain import ChatKluster

    chat = ChatKluster(model=MODEL)

    async def call(i: int) -> Any:
        return [chunk async for chunk in chat.astream(f"q{i}")]

    return call


def _pydantic_ai() -> Caller:
    from pydantic_ai import Agent

    from kluster_agents.adapters.pydantic_ai import kluster_model

    agent = Agent(kluster_model(MODEL))

    async def call(i: int) -> Any:
        return await agent.run(f"q{i}")

    return call


@pytest.mark.parametrize(
    "make", [_core, _langchain_ainvoke, _langchain_astream, _pydantic_ai], ids=lambda f: f.__name__
)
def test_no_429_reaches_callers_when_the_service_is_tighter_than_the_catalog(
    kluster_emulator_env: Emulator, make: Callable[[], Caller]
) -> None:
    controls = kluster_emulator_env.controls
    controls.enable_rate_limits(concurrency=SERVICE_CONCURRENCY)
    controls.add_latency(0.2, path="/chat/completions")
    call = make()

    async def go() -> list[BaseException]:
        results = await asyncio.gather(*(call(i) for i in range(CALLS)), return_exceptions=True)
        return [r for r in results if isinstance(r, BaseException)]

    assert asyncio.run(go()) == []
    limiter = limiter_for(MODEL)
    assert limiter.concurrency is not None and limiter.concurrency <= SERVICE_CONCURRENCY  # learned
