"""Optional-framework imports: adapters call `require()` so a missing framework raises an
ImportError that names the extra to install, instead of a bare ModuleNotFoundError."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {
    "langchain": ("langchain_openai", "langchain_core"),
    "litellm": ("litellm",),
    "crewai": ("crewai",),
    "pydantic-ai": ("pydantic_ai",),
}


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, or raise ImportError telling the user which extra provides it.

    Only a missing package is translated: a `ModuleNotFoundError` for `module` itself or one of
    its parents (`langchain_openai` for `langchain_openai.chat_models`). Any other import error
    raised while the framework loads (a missing dependency of the framework, a broken install,
    an error in its own code) surfaces unchanged, so the real cause is visible.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if not _is_missing(module, exc.name):
            raise
        raise ImportError(
            f"{module} is not installed; this part of kluster-agents needs the '{extra}' extra: "
            f'pip install "kluster-agents[{extra}]"  (or: uv add "kluster-agents[{extra}]")'
        ) from exc


def _is_missing(module: str, missing: str | None) -> bool:
    """True when `missing` (ModuleNotFoundError.name) is `module` or one of its parent packages."""
    if not missing:
        return False
    parts = module.split(".")
    return missing in {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def installed_extras() -> dict[str, str | None]:
    """Each extra's framework version, or None when it is not installed (for `doctor`)."""
    from importlib.metadata import PackageNotFoundError, version

    dists = {
        "langchain": "langchain-openai",
        "litellm": "litellm",
        "crewai": "crewai",
        "pydantic-ai": "pydantic-ai-slim",
    }
    found: dict[str, str | None] = {}
    for extra, dist in dists.items():
        try:
            found[extra] = version(dist)
        except PackageNotFoundError:
            found[extra] = None
    return found
