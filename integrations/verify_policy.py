"""Moved to `kluster_agents.integrations.verify`; this path stays importable because the README used it."""

from kluster_agents.integrations.verify.policy import HallucinationDetected, VerifyOutcome, VerifyPolicy, VerifyReport

__all__ = ["HallucinationDetected", "VerifyOutcome", "VerifyPolicy", "VerifyReport"]
