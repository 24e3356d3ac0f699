"""`VerifyPolicy`: what an agent does with a Verify verdict — and with a Verify outage.

- hallucination -> "raise" (`HallucinationDetected`), "retry" (an outcome carrying feedback
  built from Verify's explanation, for the framework's own retry loop; bounded by
  `max_retries` per prompt, then `on_exhausted` = "raise" | "annotate"), "annotate" (let the
  answer through with the result attached), or a callable choosing one of those per result;
- Verify unavailable (5xx, timeout, dropped connection, 429 after retries, malformed answer)
  -> "fail_closed" (raise `KlusterVerifyError`, the default) or "mark_unverified" (an explicit
  "unverified" outcome). An outage never silently passes. Caller errors (no key, bad input,
  401/403/400) always raise: marking them "unverified" would hide a bug.

Also: sampling (`sample_rate`; sampled-out checks are "skipped", never "reliable"), an LRU
cache of identical (prompt, output, context) verdicts, an optional concurrency cap, and a
per-run `report` (checked, flagged, unverified, skipped, cached, latency p50/max).
"""

from __future__ import annotations

import random
import statistics
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict

from kluster_agents.integrations._api.errors import (
    KlusterConnectionError,
    KlusterError,
    KlusterRateLimitError,
    KlusterServerError,
    KlusterTimeoutError,
    KlusterVerifyError,
)
from kluster_agents.integrations._api.limits import RateLimiter
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._verify.client import VerifyClient
from kluster_agents.integrations._verify.result import VerifyResult

Action = Literal["pass", "retry", "annotate", "unverified"]
METADATA_KEY = "kluster_verify"  # where every adapter stores `VerifyOutcome.to_metadata()`
Decision = Literal["raise", "retry", "annotate", "pass"]
OnHallucination = Literal["raise", "retry", "annotate"] | Callable[[VerifyResult], Decision | None]
OnError = Literal["fail_closed", "mark_unverified"]
OnExhausted = Literal["raise", "annotate"]
OutcomeStatus = Literal["reliable", "hallucination", "unverified", "skipped"]

# Failures of the Verify service itself (as opposed to a bad request or a bad key).
OUTAGE_ERRORS = (
    KlusterServerError,
    KlusterTimeoutError,
    KlusterConnectionError,
    KlusterRateLimitError,
    KlusterVerifyError,
)


class HallucinationDetected(KlusterVerifyError):
    """Verify flagged the output and the policy says raise; `.result` holds the verdict."""

    def __init__(self, result: VerifyResult, *, attempts: int = 0) -> None:
        tried = f" after {attempts} retr{'y' if attempts == 1 else 'ies'}" if attempts else ""
        super().__init__(f"kluster.ai Verify flagged the output as a hallucination{tried}: {result.explanation[:500]}")
        self.result = result
        self.attempts = attempts


class VerifyOutcome(BaseModel):
    """What to do with one output. `status` says what was found; `action` what to do about it."""

    model_config = ConfigDict(frozen=True)

    action: Action
    status: OutcomeStatus
    result: VerifyResult | None = None
    feedback: str | None = None
    cached: bool = False
    attempt: int = 0  # retries already spent on this prompt before this check

    @property
    def passed(self) -> bool:
        """True when the output may be used as is (pass, annotate, or a sampled-out skip)."""
        return self.action in ("pass", "annotate")

    def to_metadata(self) -> dict[str, Any]:
        """The one JSON-ready dict every adapter stores under its framework's `kluster_verify`
        metadata (LangChain `response_metadata`, PydanticAI run `metadata`, LiteLLM hidden params).

        Keys: status, action, is_hallucination, explanation, retries (retries already spent),
        cached, emulated, feedback, and `result` (the full `VerifyResult` dump, or None).
        """
        result = self.result
        return {
            "status": self.status,
            "action": self.action,
            "is_hallucination": result.is_hallucination if result else None,
            "explanation": result.explanation if result else "",
            "retries": self.attempt,
            "cached": self.cached,
            "emulated": result.emulated if result else False,
            "feedback": self.feedback,
            "result": result.model_dump(mode="json") if result else None,
        }

    @classmethod
    def from_metadata(cls, data: Mapping[str, Any]) -> VerifyOutcome:
        """The outcome back from `to_metadata()`'s dict."""
        result = data.get("result")
        return cls(
            action=data["action"],
            status=data["status"],
            result=VerifyResult.model_validate(result) if result else None,
            feedback=data.get("feedback"),
            cached=bool(data.get("cached", False)),
            attempt=int(data.get("retries", 0)),
        )


class _OutcomeFields(TypedDict):
    """The `VerifyOutcome` fields every decision on one check shares."""

    result: VerifyResult
    cached: bool
    attempt: int


def build_feedback(result: VerifyResult, *, has_context: bool) -> str:
    """The retry message sent back to the model, built from Verify's explanation."""
    source = "the provided context" if has_context else "reliable sources"
    return (
        "kluster.ai Verify flagged your previous answer as unreliable:\n"
        f"{result.explanation.strip() or '(no explanation given)'}\n"
        f"Rewrite the answer so that every claim is supported by {source}; "
        "correct or remove the unsupported parts, and say so when you are not sure."
    )


@dataclass
class VerifyReport:
    """Counters of one policy's run (thread-safe)."""

    checked: int = 0  # verdicts obtained (from the service or the cache)
    flagged: int = 0
    unverified: int = 0
    skipped: int = 0
    cached: int = 0
    retries: int = 0
    errors: int = 0  # outages raised under fail_closed
    latencies: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, status: OutcomeStatus, *, cached: bool = False, latency_s: float | None = None) -> None:
        """Count one check; `latency_s` only for verdicts that came from the service."""
        with self._lock:
            if status == "skipped":
                self.skipped += 1
            elif status == "unverified":
                self.unverified += 1
            else:
                self.checked += 1
                self.flagged += status == "hallucination"
                self.cached += cached
                if latency_s is not None:
                    self.latencies.append(latency_s)

    def record_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def record_error(self) -> None:
        with self._lock:
            self.errors += 1

    @property
    def latency_p50(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    @property
    def latency_max(self) -> float | None:
        return max(self.latencies) if self.latencies else None

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "checked": self.checked,
            "flagged": self.flagged,
            "unverified": self.unverified,
            "skipped": self.skipped,
            "cached": self.cached,
            "retries": self.retries,
            "errors": self.errors,
            "latency_p50_s": self.latency_p50,
            "latency_max_s": self.latency_max,
        }

    def __str__(self) -> str:
        def ms(s: float | None) -> str:
            return "-" if s is None else f"{s * 1000:.0f} ms"

        return (
            f"Verify: {self.checked} checked ({self.cached} cached), {self.flagged} flagged, "
            f"{self.unverified} unverified, {self.skipped} skipped, {self.errors} errors; "
            f"latency p50 {ms(self.latency_p50)}, max {ms(self.latency_max)}"
        )


CacheKey = tuple[str, str, str | None]


class VerifyPolicy:
    """Applies Verify to agent outputs and turns verdicts into actions; see the module docstring."""

    def __init__(
        self,
        on_hallucination: OnHallucination = "retry",
        on_error: OnError = "fail_closed",
        max_retries: int = 2,
        sample_rate: float = 1.0,
        cache: bool = True,
        concurrency: int | None = None,
        client: VerifyClient | None = None,
        *,
        on_exhausted: OnExhausted = "raise",
        settings: KlusterSettings | None = None,
        cache_size: int = 1024,
        seed: int | None = None,
        user_agent: str | None = None,
    ) -> None:
        if not callable(on_hallucination) and on_hallucination not in ("raise", "retry", "annotate"):
            raise KlusterVerifyError(
                f"on_hallucination must be 'raise', 'retry', 'annotate' or a callable, got {on_hallucination!r}."
            )
        if on_error not in ("fail_closed", "mark_unverified"):
            raise KlusterVerifyError(f"on_error must be 'fail_closed' or 'mark_unverified', got {on_error!r}.")
        if on_exhausted not in ("raise", "annotate"):
            raise KlusterVerifyError(f"on_exhausted must be 'raise' or 'annotate', got {on_exhausted!r}.")
        if not 0.0 <= sample_rate <= 1.0:
            raise KlusterVerifyError(f"sample_rate must be between 0 and 1, got {sample_rate!r}.")
        if max_retries < 0:
            raise KlusterVerifyError(f"max_retries must be >= 0, got {max_retries!r}.")
        self.on_hallucination = on_hallucination
        self.on_error = on_error
        self.on_exhausted = on_exhausted
        self.max_retries = max_retries
        self.sample_rate = sample_rate
        self._client = client
        self._settings = settings
        self._user_agent = user_agent  # for the client built on first use: who asks Verify
        self._cache: OrderedDict[CacheKey, VerifyResult] | None = OrderedDict() if cache else None
        self._cache_size = cache_size
        self._gate = RateLimiter(None, concurrency, name="verify-policy") if concurrency else None
        self._rng = random.Random(seed)
        self._attempts: dict[tuple[str, str | None], int] = {}
        self._lock = threading.Lock()
        self.report = VerifyReport()

    def __repr__(self) -> str:
        return (
            f"VerifyPolicy(on_hallucination={self.on_hallucination!r}, on_error={self.on_error!r}, "
            f"max_retries={self.max_retries}, sample_rate={self.sample_rate})"
        )

    @property
    def client(self) -> VerifyClient:
        """The Verify client (built on first use, so a policy can be declared before the key is set)."""
        if self._client is None:
            self._client = VerifyClient(self._settings, user_agent=self._user_agent)
        return self._client

    def reset(self) -> None:
        """Forget retry counters, cached verdicts and the report (start a new run)."""
        with self._lock:
            self._attempts.clear()
            if self._cache is not None:
                self._cache.clear()
        self.report = VerifyReport()

    # -- the steps shared by check() and acheck() ------------------------------------------------

    def _before_call(self, key: CacheKey, attempt: int | None) -> VerifyOutcome | None:
        """A cached verdict or a sampled-out skip; None when the service must be asked."""
        cached = None
        if self._cache is not None:
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
        if cached is not None:
            return self._decide(key, cached, attempt, cached=True)
        if self.sample_rate < 1.0 and self._rng.random() >= self.sample_rate:
            self.report.record("skipped")
            return VerifyOutcome(action="pass", status="skipped")
        return None

    def _after_call(self, key: CacheKey, result: VerifyResult, attempt: int | None) -> VerifyOutcome:
        if self._cache is not None:
            with self._lock:
                self._cache[key] = result
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return self._decide(key, result, attempt, cached=False)

    def _on_failure(self, exc: KlusterError) -> VerifyOutcome:
        if not isinstance(exc, OUTAGE_ERRORS):
            raise exc
        if self.on_error == "fail_closed":
            self.report.record_error()
            raise KlusterVerifyError(
                f"Verify could not check the output, so it is not passed (on_error='fail_closed'): {exc} "
                "Use VerifyPolicy(on_error='mark_unverified') to let outputs through labelled 'unverified'."
            ) from exc
        self.report.record("unverified")
        return VerifyOutcome(
            action="unverified", status="unverified", result=VerifyResult.unverified(f"Verify unavailable: {exc}")
        )

    def _choose(self, result: VerifyResult) -> Decision:
        if not callable(self.on_hallucination):
            return self.on_hallucination
        choice = self.on_hallucination(result)
        if choice is None:
            return "annotate"
        if choice not in ("raise", "retry", "annotate", "pass"):
            raise KlusterVerifyError(
                f"on_hallucination callable returned {choice!r}; return 'raise', 'retry', 'annotate', 'pass' or None."
            )
        return choice

    def _decide(self, key: CacheKey, result: VerifyResult, attempt: int | None, *, cached: bool) -> VerifyOutcome:
        self.report.record(result.status, cached=cached, latency_s=None if cached else result.latency_s)
        prompt_key = (key[0], key[2])
        with self._lock:
            spent = self._attempts.get(prompt_key, 0) if attempt is None else attempt
        common: _OutcomeFields = {"result": result, "cached": cached, "attempt": spent}
        if not result.is_hallucination:
            self._forget(prompt_key)
            return VerifyOutcome(action="pass", status="reliable", **common)
        decision = self._choose(result)
        if decision == "retry" and spent >= self.max_retries:
            decision = self.on_exhausted
        if decision == "retry":
            if attempt is None:
                with self._lock:
                    self._attempts[prompt_key] = spent + 1
            self.report.record_retry()
            feedback = build_feedback(result, has_context=key[2] is not None)
            return VerifyOutcome(action="retry", status="hallucination", feedback=feedback, **common)
        self._forget(prompt_key)
        if decision == "raise":
            raise HallucinationDetected(result, attempts=spent)
        return VerifyOutcome(action="pass" if decision == "pass" else "annotate", status="hallucination", **common)

    def _forget(self, prompt_key: tuple[str, str | None]) -> None:
        with self._lock:
            self._attempts.pop(prompt_key, None)

    # -- public API -------------------------------------------------------------------------------

    def check(
        self, prompt: str, output: str, context: str | None = None, *, attempt: int | None = None
    ) -> VerifyOutcome:
        """Verify `output` and decide. `attempt` (retries already made for this prompt) overrides
        the policy's own per-prompt counter — pass it when your framework counts retries."""
        key: CacheKey = (prompt, output, context)
        early = self._before_call(key, attempt)
        if early is not None:
            return early
        try:
            if self._gate is None:
                result = self.client.verify(prompt, output, context)
            else:
                with self._gate.slot():
                    result = self.client.verify(prompt, output, context)
        except KlusterError as exc:
            return self._on_failure(exc)
        return self._after_call(key, result, attempt)

    async def acheck(
        self, prompt: str, output: str, context: str | None = None, *, attempt: int | None = None
    ) -> VerifyOutcome:
        """Async twin of `check`."""
        key: CacheKey = (prompt, output, context)
        early = self._before_call(key, attempt)
        if early is not None:
            return early
        try:
            if self._gate is None:
                result = await self.client.averify(prompt, output, context)
            else:
                async with self._gate.aslot():
                    result = await self.client.averify(prompt, output, context)
        except KlusterError as exc:
            return self._on_failure(exc)
        return self._after_call(key, result, attempt)
