"""One timing method for every benchmark that compares our path with a baseline.

Candidates run in interleaved rounds (the order alternates every round, so drift and other load hit
each alike), and each is reported as the median of its rounds with the spread (min-max). The ratio
is the ratio of the medians; the per-round ratios (ours / baseline within the same round) give its
spread. Never the best round: on a shared machine the best round flatters whichever side was lucky.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Samples:
    """Seconds per unit (one call, one import...) of one candidate, one value per round."""

    name: str
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def describe(self, unit: str = "ms") -> str:
        scale = {"s": 1.0, "ms": 1e3, "µs": 1e6}[unit]
        return f"{self.median * scale:.3f} {unit} [{self.low * scale:.3f}-{self.high * scale:.3f}]"


@dataclass(frozen=True)
class Comparison:
    """`ours` against `base`, measured in the same rounds."""

    ours: Samples
    base: Samples

    @property
    def ratio(self) -> float:
        return self.ours.median / self.base.median

    @property
    def round_ratios(self) -> tuple[float, ...]:
        return tuple(o / b for o, b in zip(self.ours.values, self.base.values, strict=True))

    def describe(self, unit: str = "ms") -> str:
        ratios = self.round_ratios
        return (
            f"{self.ours.name} {self.ours.describe(unit)} vs {self.base.name} {self.base.describe(unit)}: "
            f"ratio {self.ratio:.3f}x (per-round {min(ratios):.3f}-{max(ratios):.3f}x, "
            f"median of {len(ratios)} interleaved rounds, [min-max])"
        )


def _orders(names: list[str], rounds: int) -> list[list[str]]:
    return [names if i % 2 == 0 else names[::-1] for i in range(rounds)]


def interleave(
    candidates: Mapping[str, Callable[[], object]], *, rounds: int, per_round: int = 1, warmup: int = 1
) -> dict[str, Samples]:
    """Time each candidate `per_round` times per round, `rounds` rounds, interleaved; seconds per call."""
    names = list(candidates)
    for name in names:
        for _ in range(warmup):
            candidates[name]()
    values: dict[str, list[float]] = {name: [] for name in names}
    for order in _orders(names, rounds):
        for name in order:
            fn = candidates[name]
            started = time.perf_counter()
            for _ in range(per_round):
                fn()
            values[name].append((time.perf_counter() - started) / per_round)
    return {name: Samples(name, tuple(v)) for name, v in values.items()}


async def ainterleave(
    candidates: Mapping[str, Callable[[], Awaitable[object]]], *, rounds: int, per_round: int = 1, warmup: int = 1
) -> dict[str, Samples]:
    """`interleave` for coroutine functions, all awaited in the running event loop."""
    names = list(candidates)
    for name in names:
        for _ in range(warmup):
            await candidates[name]()
    values: dict[str, list[float]] = {name: [] for name in names}
    for order in _orders(names, rounds):
        for name in order:
            fn = candidates[name]
            started = time.perf_counter()
            for _ in range(per_round):
                await fn()
            values[name].append((time.perf_counter() - started) / per_round)
    return {name: Samples(name, tuple(v)) for name, v in values.items()}


def compare(samples: Mapping[str, Samples], ours: str, base: str) -> Comparison:
    return Comparison(samples[ours], samples[base])
