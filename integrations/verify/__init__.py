"""Verify (hallucination checks): the client for both entry points and the policy adapters share.

`from kluster_agents.integrations.verify import verify, VerifyPolicy`.

Names load on first use (PEP 562): adapters import `verify.policy` at start-up and should not
pay for the Verify HTTP client until they verify something.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
