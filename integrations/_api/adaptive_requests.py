"""Recognising adaptive ("async") inference on the real-time path, so the client never hands the
service's placeholder to a caller as if it were the answer.

A chat completion whose `metadata["@kluster.ai"]["async"]` is true is queued as a batch job and
answered at once with a placeholder (docs, "Submit an async request"). The kluster clients spot the
request (metadata given directly or inside `extra_body`, as frameworks pass provider fields) and the
placeholder, and wait for the job through the resolver `jobs.adaptive` provides; this module holds
only what the API layer needs to know, so it imports nothing from the job layer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterUnsupportedError

KLUSTER_METADATA_KEY = "@kluster.ai"
PLACEHOLDER_TEXT = "Your request has been queued for adaptive inference"
"""How the service's placeholder answer starts (docs, "Submit an async request")."""

Resolver = Callable[[Any, Any, Any], Any]
"""(sync openai client, placeholder completion, settings) -> the real ChatCompletion."""
AsyncResolver = Callable[[Any, Any, Any], Awaitable[Any]]


def requested_adaptive(kwargs: Mapping[str, Any]) -> bool:
    """Whether `chat.completions.create(**kwargs)` asks for adaptive inference."""
    if "metadata" not in kwargs and "extra_body" not in kwargs:  # the usual request, asked on every stream
        return False
    for holder in (kwargs, kwargs.get("extra_body")):
        metadata = holder.get("metadata") if isinstance(holder, Mapping) else None
        options = metadata.get(KLUSTER_METADATA_KEY) if isinstance(metadata, Mapping) else None
        if isinstance(options, Mapping) and options.get("async"):
            return True
    return False


def is_placeholder(response: Any) -> bool:
    """Whether a chat completion (an openai model or its JSON) is the "queued for adaptive inference"
    placeholder (or a batch object)."""
    if isinstance(response, Mapping):
        if response.get("object") == "batch":
            return True
        choices = response.get("choices")
        message = choices[0].get("message") if isinstance(choices, list) and choices else None
        content = message.get("content") if isinstance(message, Mapping) else None
    else:
        if getattr(response, "object", None) == "batch":
            return True
        choices = getattr(response, "choices", None)
        if not choices:
            return False
        content = getattr(getattr(choices[0], "message", None), "content", None)
    return isinstance(content, str) and content.startswith(PLACEHOLDER_TEXT)


def refuse_adaptive_stream(model: Any) -> KlusterUnsupportedError:
    """The typed refusal for a stream that asks for adaptive inference (its answer comes later)."""
    return KlusterUnsupportedError(
        f"Adaptive inference cannot be streamed on kluster.ai model {model!r}: the answer arrives when the queued "
        "job finishes. Fix: call without stream=True (the call waits and returns the whole answer), or turn "
        "adaptive off.",
        parameter="stream",
        model=str(model) if model is not None else None,
    )


class _Resolvers:
    """The job layer's resolvers, installed by the package root (the layer above both)."""

    sync: Resolver | None = None
    async_: AsyncResolver | None = None


def install_resolvers(sync: Resolver, async_: AsyncResolver) -> None:
    """Called once by `kluster_agents.integrations` with `jobs.adaptive`'s resolvers."""
    _Resolvers.sync, _Resolvers.async_ = sync, async_


def _missing() -> KlusterConfigError:
    return KlusterConfigError("kluster_agents.integrations was not imported; adaptive answers cannot be awaited.")


def resolve(client: Any, placeholder: Any, settings: Any) -> Any:
    """The real completion behind `placeholder` (waits for its job)."""
    if _Resolvers.sync is None:
        raise _missing()
    return _Resolvers.sync(client, placeholder, settings)


async def aresolve(client: Any, placeholder: Any, settings: Any) -> Any:
    """`resolve` for async clients."""
    if _Resolvers.async_ is None:
        raise _missing()
    return await _Resolvers.async_(client, placeholder, settings)
