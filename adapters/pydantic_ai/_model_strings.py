"""`"kluster:<model>"` strings wherever pydantic-ai's `Agent` takes a model name.

pydantic-ai 2.31 has no provider registry or entry point: `infer_model` and `infer_provider_class`
are closed if/elif chains. The least fragile public place to hook is the one function every
`Agent` calls by module attribute, `pydantic_ai.models.infer_model`: it is wrapped once, on import
of `kluster_agents.adapters.pydantic_ai`, so that `kluster:` strings build `kluster_model(...)` and
every other string goes to pydantic-ai's own function unchanged. (Modules that imported the
function by name before, such as `FallbackModel`'s, keep the original: pass them `kluster_model(...)`
or use the `kluster_models()` capability.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic_ai import models

MODEL_PREFIX = "kluster:"


def install(build: Callable[[str], models.Model]) -> None:
    """Wrap `pydantic_ai.models.infer_model` once (idempotent); `build` makes the model of a `kluster:`
    string (passed in, so this module needs nothing of the provider module, which needs its prefix)."""
    original: Callable[..., models.Model] = models.infer_model
    if getattr(original, "kluster_model_strings", False):
        return

    def infer_model(model: Any, *args: Any, **kwargs: Any) -> models.Model:
        if isinstance(model, str) and model.startswith(MODEL_PREFIX):
            return build(model)
        return original(model, *args, **kwargs)

    infer_model.__doc__ = original.__doc__
    infer_model.__wrapped__ = original  # type: ignore[attr-defined]
    infer_model.kluster_model_strings = True  # type: ignore[attr-defined]
    models.infer_model = infer_model
