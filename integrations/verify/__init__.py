"""Verify (hallucination checks): the client for both entry points and the policy adapters share.

`from kluster_agents.integrations.verify import verify, VerifyPolicy`.
"""

from __future__ import annotations

from kluster_agents.integrations.verify.client import (
    VerifyClient,
    VerifyResult,
    averify,
    verify,
    verify_conversation,
)
from kluster_agents.integrations.verify.policy import HallucinationDetected, VerifyOutcome, VerifyPolicy, VerifyReport

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
