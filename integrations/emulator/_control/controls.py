"""`EmulatorControls`: the per-test knobs of a running emulator — scripted replies, faults, the
clock, fidelity mode and tier, rate limits, job timings — and the log of every request seen.

Tests call these from their own thread while the server runs in another; everything here is
thread-safe. `reset()` returns to the defaults the emulator was started with.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._api.tiers import Tier
from kluster_agents.integrations.emulator._control.faults import Fault
from kluster_agents.integrations.emulator._control.ratelimit import RateLimiter
from kluster_agents.integrations.emulator._inspector.request_log import (
    InspectedFaultInjector,
    RequestLog,
    RequestRecord,
)
from kluster_agents.integrations.emulator._model.replies import Reply, ScriptedReplies, ToolCall
from kluster_agents.integrations.emulator._routes.fidelity import Mode, check_mode
from kluster_agents.integrations.emulator._state.clock import DEFAULT_SPEED, EmulatedClock

DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the documented 100 MB per uploaded file
TimingMode = Literal["instant", "fast", "realistic"]
TIMING_ENV = "KLUSTER_EMULATOR_TIMING"
DEFAULT_TIMING: TimingMode = "fast"
_TIMING_MODES: dict[str, TimingMode] = {mode: mode for mode in get_args(TimingMode)}
FAST_JOB_SECONDS = 20.0
"""The longest a job lasts in `fast` timing: a fine-tuning job of the vendor's own program (4,500 steps
at the observed 0.25 s, about 19 minutes) ends within two of its 10-second polls."""


@dataclass
class JobTiming:
    """How long (in seconds on the emulator's clock, which runs at wall-clock speed) each job phase lasts.

    The defaults are the live service's behaviour scaled down (observed: a 2-request batch took 31-50 s,
    a 4-step fine-tuning job 90 s): a client polling right after create sees at least one non-terminal
    status, and a small job still finishes within a few seconds. A job runs its lines in parallel (observed:
    5 requests took ~60 s against 31-50 s for 2), so its progress scales with the work: `batch_parallel_lines`
    at a time, each `batch_per_line` long — a 100,000-line job (the core tier's per-job maximum) takes
    100 x 0.25 s, not 100,000 x 0.25 s. `instant()` finishes every job at its
    first read after create; `scaled(f)` multiplies every phase. Neither moves the clock users see.
    """

    batch_scheduling: float = 1.0  # `pre_schedule` (observed) or `validating` (docs-strict)
    batch_per_line: float = 0.25  # how long one line takes to run
    batch_parallel_lines: int = 1000  # lines a job runs at once: n lines take ceil(n / this) * batch_per_line
    batch_finalizing: float = 1.0  # docs-strict only: the observed service never shows `finalizing`
    cancelling: float = 1.0
    finetune_validating: float = 1.0
    finetune_queued: float = 1.0
    finetune_per_step: float = 0.25
    max_job_seconds: float | None = None

    @classmethod
    def instant(cls) -> JobTiming:
        """Every phase takes no time: a job is finished at its first read after create."""
        phases: dict[str, Any] = dict.fromkeys(cls._phases(), 0.0)
        return cls(**phases)

    @classmethod
    def for_mode(cls, mode: TimingMode) -> JobTiming:
        """`instant` (tests), `fast` (development: observed pacing, each job capped at `FAST_JOB_SECONDS`)
        or `realistic` (the observed pacing, however long a job takes)."""
        if mode == "instant":
            return cls.instant()
        return cls(max_job_seconds=FAST_JOB_SECONDS) if mode == "fast" else cls()

    @classmethod
    def _phases(cls) -> list[str]:
        return [name for name in cls.__dataclass_fields__ if name not in ("batch_parallel_lines", "max_job_seconds")]

    def scaled(self, factor: float) -> JobTiming:
        """Every phase `factor` times as long (0.01: a hundred times faster)."""
        return replace(self, **{name: getattr(self, name) * factor for name in self._phases()})

    def fit(self, seconds: float, *, spent: float = 0.0) -> float:
        """`seconds` of a job phase, shortened so that with the job's other phases (`spent`) the job
        stays within `max_job_seconds`."""
        seconds = max(seconds, 0.0)
        if self.max_job_seconds is None:
            return seconds
        return min(seconds, max(self.max_job_seconds - spent, 0.0))


def resolve_timing(timing: JobTiming | str | None) -> JobTiming:
    """A `JobTiming` from itself, a mode name, or (None) `KLUSTER_EMULATOR_TIMING`, else `fast`."""
    if isinstance(timing, JobTiming):
        return timing
    source = f"timing {timing!r}"
    if timing is None:
        timing = os.environ.get(TIMING_ENV, "").strip().lower() or DEFAULT_TIMING
        source = f"{TIMING_ENV}={timing!r}"
    mode = _TIMING_MODES.get(timing)
    if mode is None:
        raise KlusterConfigError(
            f"Unknown emulator {source}: use instant (tests), fast (development; each job at most "
            f"{FAST_JOB_SECONDS:g} s) or realistic (the observed pace), with --timing or {TIMING_ENV}."
        )
    return JobTiming.for_mode(mode)


class EmulatorControls:
    """Knobs and request log of one emulator; see the module docstring."""

    def __init__(
        self,
        *,
        mode: str = "strict",
        tier: Tier | str = Tier.core,
        clock_speed: float = DEFAULT_SPEED,
        enforce_limits: bool = False,
        timing: JobTiming | str | None = None,
    ) -> None:
        self._defaults = (check_mode(mode), Tier(tier), clock_speed, enforce_limits)
        self.default_timing = resolve_timing(timing)
        """The job timing `reset()` returns to (`--timing`, `KLUSTER_EMULATOR_TIMING`, else fast)."""
        self.request_log: RequestLog[RequestRecord] = RequestLog()
        """Every request seen, oldest first, bounded by bytes (`request_log.max_bytes`)."""
        self.clock = EmulatedClock(clock_speed)
        self.faults = InspectedFaultInjector()  # a FaultInjector that also tells the inspector page
        self.rate_limiter = RateLimiter()
        self.rate_limiter.configure(enforce_limits)
        self.scripts = ScriptedReplies()
        self.mode: Mode = self._defaults[0]
        self.tier: Tier = self._defaults[1]
        self.timing = replace(self.default_timing)  # a copy: tests change phases in place
        self.max_request_bytes = DEFAULT_MAX_REQUEST_BYTES
        self.accept_stream_options = False
        """Accept `stream_options` (and send a usage chunk when asked) although the docs list it as
        unsupported: nobody has observed the live service either way, so the default follows the docs."""

    # -- replies ---------------------------------------------------------------------------
    def script(self, *replies: str | ToolCall | Sequence[ToolCall] | Reply, model: str | None = None) -> None:
        """Queue replies (text, a ToolCall, a list of ToolCalls or a Reply), used first-in first-out
        by the next chat completions (real-time or batch) for `model`, or for any model."""
        self.scripts.push([Reply.of(r) for r in replies], model)

    # -- faults ----------------------------------------------------------------------------
    def fail(
        self, status: int = 503, *, times: int | None = 1, fraction: float | None = None, path: str | None = None
    ) -> Fault:
        """Answer `status` (500/502/503...) to the next `times` matching requests, or a `fraction` of them."""
        return self.faults.add(Fault("status", path=path, times=times, fraction=fraction, status=status))

    def add_latency(self, seconds: float, *, times: int | None = None, path: str | None = None) -> Fault:
        """Delay matching requests by `seconds` of real time."""
        return self.faults.add(Fault("latency", path=path, times=times, seconds=seconds))

    def drop_connections(
        self, *, times: int | None = 1, fraction: float | None = None, path: str | None = None
    ) -> Fault:
        """Close the socket of matching requests without sending any response."""
        return self.faults.add(Fault("drop", path=path, times=times, fraction=fraction))

    def reset_connections(self, *, after_chunks: int = 0, times: int | None = 1, path: str | None = None) -> Fault:
        """Answer matching requests normally but reset the connection mid-body: after `after_chunks`
        body messages (SSE events for a stream), half of the next one is sent, then the socket is aborted."""
        return self.faults.add(Fault("reset", path=path, times=times, after_chunks=after_chunks))

    def malformed_json(self, *, times: int | None = 1, path: str | None = None) -> Fault:
        """Answer matching requests with HTTP 200, `application/json`, and a body that is not valid JSON
        (what a misbehaving proxy or a cut-off gateway produces)."""
        return self.faults.add(Fault("malformed", path=path, times=times))

    def truncate_streams(self, *, after_chunks: int = 1, times: int | None = 1) -> Fault:
        """End the next streamed completions after `after_chunks` chunks, with no finish chunk and no [DONE]."""
        return self.faults.add(Fault("truncate", path="/v1/chat/completions", times=times, after_chunks=after_chunks))

    def corrupt_batch_output(self, lines: int = 1) -> None:
        """Put `lines` malformed JSON lines into the next batch output file(s)."""
        self.faults.corrupt_batch_output(lines)

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- time, mode, limits --------------------------------------------------------------------
    def advance(self, seconds: float) -> float:
        """Move the emulated clock forward (batches and fine-tuning jobs progress accordingly)."""
        return self.clock.advance(seconds)

    def set_timing(self, timing: JobTiming | TimingMode) -> None:
        """Job phase durations: a `JobTiming`, or "instant" / "fast" / "realistic" (see `JobTiming.for_mode`)."""
        self.timing = resolve_timing(timing)

    def set_mode(self, mode: str) -> None:
        self.mode = check_mode(mode)

    def set_tier(self, tier: Tier | str) -> None:
        self.tier = Tier(tier)

    def enable_rate_limits(self, *, rpm: int | None = None, concurrency: int | None = None) -> None:
        """Enforce the tier's RPM and concurrency per model (or these overrides) with 429 + Retry-After."""
        self.rate_limiter.configure(True, rpm=rpm, concurrency=concurrency)

    def disable_rate_limits(self) -> None:
        self.rate_limiter.configure(False)

    # -- request log ---------------------------------------------------------------------------
    def record(self, method: str, path: str, query: str) -> RequestRecord:
        entry = RequestRecord(method, path, query)
        self.request_log.append(entry)
        return entry

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request seen since the last reset (the oldest dropped past the log's byte budget), oldest first."""
        return self.request_log.records()

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """How many requests hit `path` (with or without the /v1 prefix) and `method`."""
        return sum(
            1
            for r in self.requests
            if (path is None or r.path in (path, "/v1" + path)) and (method is None or r.method == method.upper())
        )

    def clear_requests(self) -> None:
        self.request_log.clear()

    def reset(self, *, mode: str | None = None, tier: Tier | str | None = None, limits: bool | None = None) -> None:
        """Defaults again (or the given mode/tier, tier limits on or off): no scripts, faults or logged requests."""
        default_mode, default_tier, speed, enforce_limits = self._defaults
        self.mode = check_mode(mode or default_mode)
        self.tier = Tier(tier or default_tier)
        self.scripts.clear()
        self.faults.clear()
        self.rate_limiter.configure(enforce_limits if limits is None else limits)
        self.clock.reset(speed)
        self.timing = replace(self.default_timing)  # a copy: tests change phases in place
        self.max_request_bytes = DEFAULT_MAX_REQUEST_BYTES
        self.accept_stream_options = False
        self.request_log.clear()
