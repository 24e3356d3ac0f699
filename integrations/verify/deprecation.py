"""The one Verify vocabulary across adapters: `context=` says where the grounding context comes
from. Older names (`context_key`, `context_from`) still work, with a `DeprecationWarning`."""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

T = TypeVar("T")


def deprecated_context_alias(context: T, **old: Any) -> T | Any:
    """`context`, or the value passed under a deprecated old name (warning once per call)."""
    given = {name: value for name, value in old.items() if value is not None}
    if not given:
        return context
    name, value = next(iter(given.items()))
    if context is not None:
        raise TypeError(f"pass context= only; {name}= is its deprecated old name")
    warnings.warn(f"{name}= is deprecated; pass context= instead.", DeprecationWarning, stacklevel=3)
    return value
