"""`VerifyResult`, the one verdict every Verify path returns (reliability endpoint, chat form, MCP
tools, a policy's outage marker), and the conservative rule that merges a long context's chunk verdicts."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from kluster_agents.integrations._api.errors import KlusterVerifyError, redact

VerifySource = Literal["reliability", "chat", "mcp"]
VerifyStatus = Literal["reliable", "hallucination", "unverified"]

logger = logging.getLogger(__name__)


class VerifyResult(BaseModel):
    """One Verify verdict. `status` is "unverified" only when built by a policy after an outage."""

    model_config = ConfigDict(frozen=True)

    is_hallucination: bool | None
    explanation: str = ""
    search_results: list[Any] = Field(default_factory=list)
    usage: dict[str, Any] | None = None
    latency_s: float = 0.0
    source: VerifySource = "reliability"
    status: VerifyStatus
    emulated: bool = False
    chunks: int = 1

    @property
    def reliable(self) -> bool:
        return self.status == "reliable"

    @classmethod
    def from_verdict(
        cls, body: Mapping[str, Any], *, source: VerifySource, latency_s: float, emulated: bool
    ) -> VerifyResult:
        """Parse the documented verdict object; anything without a boolean `is_hallucination` is malformed."""
        verdict = body.get("is_hallucination") if isinstance(body, Mapping) else None
        logger.info("Verify verdict via /%s: is_hallucination=%s (%.0f ms)", source, verdict, latency_s * 1000)
        if not isinstance(verdict, bool):
            raise KlusterVerifyError(
                f"Verify answered without a boolean `is_hallucination` (got {redact(repr(body))[:200]}); "
                "no verdict — retry, or check the service status."
            )
        usage = body.get("usage") or body.get("confidence")  # the MCP tools call usage "confidence"
        return cls(
            is_hallucination=verdict,
            explanation=str(body.get("explanation") or ""),
            search_results=list(body.get("search_results") or []),
            usage=dict(usage) if isinstance(usage, Mapping) else None,
            latency_s=latency_s,
            source=source,
            status="hallucination" if verdict else "reliable",
            emulated=emulated,
        )

    @classmethod
    def unverified(cls, reason: str, *, source: VerifySource = "reliability", latency_s: float = 0.0) -> VerifyResult:
        """The explicit no-verdict result a policy returns on an outage with `mark_unverified`."""
        return cls(is_hallucination=None, explanation=reason, latency_s=latency_s, source=source, status="unverified")


class _CombinedFields(TypedDict):
    """The `VerifyResult` fields merged over every chunk, whatever the verdict."""

    search_results: list[Any]
    usage: dict[str, Any] | None
    latency_s: float
    source: VerifySource
    emulated: bool
    chunks: int


def combine_chunk_results(results: Sequence[VerifyResult]) -> VerifyResult:
    """The conservative rule: reliable iff some chunk alone supports the whole output."""
    supporting = next((r for r in results if r.status == "reliable"), None)
    usage: dict[str, Any] = {}
    for r in results:
        for key, value in (r.usage or {}).items():
            if isinstance(value, (int, float)):
                usage[key] = usage.get(key, 0) + value
    common: _CombinedFields = {
        "search_results": [s for r in results for s in r.search_results],
        "usage": usage or None,
        "latency_s": sum(r.latency_s for r in results),
        "source": results[0].source,
        "emulated": any(r.emulated for r in results),
        "chunks": len(results),
    }
    if supporting is not None:
        index = results.index(supporting) + 1
        return VerifyResult(
            is_hallucination=False,
            status="reliable",
            explanation=f"[context chunk {index}/{len(results)} supports the output] {supporting.explanation}",
            **common,
        )
    explanation = "\n".join(f"[context chunk {i}/{len(results)}] {r.explanation}" for i, r in enumerate(results, 1))
    return VerifyResult(
        is_hallucination=True,
        status="hallucination",
        explanation="No single context chunk supports the whole output.\n" + explanation,
        **common,
    )
