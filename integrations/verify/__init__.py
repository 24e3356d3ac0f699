"""Verify (hallucination checks): the client for both entry points and the policy adapters share.

`from kluster_agents.integrations.verify import verify, VerifyPolicy`.

Names load on first use (PEP 562): adapters import `verify.policy` at start-up and should not
pay for the Verify HTTP client until they verify something.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kluster_agents.integrations._lazy import lazy_exports

if TYPE_CHECKING:
    from kluster_agents.integrations.verify.client import (
        VerifyClient,
        VerifyResult,
        averify,
        verify,
        verify_conversation,
    )
    from kluster_agents.integrations.verify.policy import (
        HallucinationDetected,
        VerifyOutcome,
        VerifyPolicy,
        VerifyReport,
    )

_EXPORTS = {
    "VerifyClient": "client",
    "VerifyResult": "client",
    "averify": "client",
    "verify": "client",
    "verify_conversation": "client",
    "HallucinationDetected": "policy",
    "VerifyOutcome": "policy",
    "VerifyPolicy": "policy",
    "VerifyReport": "policy",
}

__all__ = [
    "HallucinationDetected",
    "VerifyClient",
    "VerifyOutcome",
    "VerifyPolicy",
    "VerifyReport",
    "VerifyResult",
    "averify",
    "verify",
    "verify_conversation",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
