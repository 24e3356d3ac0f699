"""Two emulators per test: `upstream` plays the real kluster service (its own secret key), and the
plugin's `kluster_emulator` is the pass-through recorder and then the cassette player.
`record_and_replay` runs a scenario through both phases with the upstream stopped for the replay."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from kluster_agents.integrations.emulator._cassettes.cassette import CassettePlayer
from kluster_agents.integrations.emulator._control.controls import JobTiming
from kluster_agents.integrations.emulator._server.server import Emulator

UPSTREAM_KEY = "sk-live-UPSTREAM-secret-0123456789abcdef"
T = TypeVar("T")


@pytest.fixture
def upstream() -> Iterator[Emulator]:
    """The stand-in for api.kluster.ai: a second emulator with a key no client of the recorder knows."""
    emulator = Emulator(api_key=UPSTREAM_KEY)
    emulator.start()
    emulator.controls.set_timing(JobTiming().scaled(0.2))  # a batch shows several statuses in ~0.5 s
    yield emulator
    emulator.stop()


@dataclass
class Replayed(Generic[T]):
    recorded: T
    replayed: T
    path: Path
    player: CassettePlayer
    upstream_requests: int  # what the upstream received while recording
    recorded_requests: list[Any]  # (method, path) the recorder saw
    replayed_requests: list[Any]  # (method, path) the player saw


def record_and_replay(
    emulator: Emulator, upstream: Emulator, path: Path, scenario: Callable[[Emulator], T]
) -> Replayed[T]:
    """Run `scenario` against `emulator` recording through to `upstream`, then stop `upstream` and
    run it again against `emulator` replaying the cassette; the replay must not reach the upstream."""
    emulator.record_cassette(path, upstream_url=upstream.base_url, upstream_key=upstream.api_key)
    recorded = scenario(emulator)
    emulator.eject_cassette()
    recorded_requests = [(r.method, r.path) for r in emulator.controls.requests]
    upstream_requests = len(upstream.controls.requests)
    assert upstream_requests == len(recorded_requests) > 0
    upstream.stop()  # "the network": anything that still tried to reach it would fail
    emulator.reset()
    player = emulator.play_cassette(path)
    replayed = scenario(emulator)
    emulator.eject_cassette()
    assert player.mismatches == []
    assert len(upstream.controls.requests) == upstream_requests  # it received nothing during the replay
    replayed_requests = [(r.method, r.path) for r in emulator.controls.requests]
    assert player.served == len(replayed_requests)  # every answer came from the cassette
    return Replayed(recorded, replayed, path, player, upstream_requests, recorded_requests, replayed_requests)
