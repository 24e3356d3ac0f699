"""`kluster` as a provider of LangChain's `init_chat_model` (and so of `create_agent("kluster:<model>")`).

LangChain resolves `"<provider>:<model>"` and `model_provider=` through its provider table
(`langchain.chat_models.base._BUILTIN_PROVIDERS`, a plain dict it reads on every call); it has no
public registration hook, so importing this adapter adds the one `kluster` entry there.
"""

from __future__ import annotations

from typing import Any

PROVIDER_KEY = "kluster"


def _create(cls: type, **kwargs: Any) -> Any:
    return cls(**kwargs)


def register_provider() -> None:
    """Route `init_chat_model("kluster:<model>")` to `ChatKluster` (no-op without the `langchain` package)."""
    try:
        from langchain.chat_models import base
    except ImportError:  # langchain-core alone has no init_chat_model: nothing to register
        return
    providers = getattr(base, "_BUILTIN_PROVIDERS", None)
    if isinstance(providers, dict):
        providers.setdefault(PROVIDER_KEY, ("kluster_agents.adapters.langchain", "ChatKluster", _create))
