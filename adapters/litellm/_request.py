"""LiteLLM's call turned into `create()` arguments for our compat-enforcing client: parameters the
SDK names go as keywords and the rest in `extra_body`, the adaptive option, LiteLLM's timeouts told
apart from the caller's, and what compat would refuse dropped when LiteLLM's `drop_params` asks."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Mapping
from typing import Any

import httpx
import litellm
from litellm.constants import COMPLETION_HTTP_FALLBACK_SECONDS
from litellm.litellm_core_utils.request_timeout_resolver import get_configured_request_timeout

from kluster_agents.adapters.litellm._model_map import model_name
from kluster_agents.integrations._api.compat import KlusterCompatWarning, check_chat_request
from kluster_agents.integrations._api.errors import KlusterUnsupportedError
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode, with_adaptive

# LiteLLM passes unknown keyword arguments to a custom handler (`completion(..., adaptive=True)`);
# the same option inside `extra_body` serves callers whose framework only forwards extra_body.
ADAPTIVE_EXTRA_BODY_KEY = "kluster_adaptive"


@functools.cache
def _create_params() -> frozenset[str]:
    """Body parameters `chat.completions.create()` takes by name; anything else goes in extra_body.

    Read at the first call, not at import: `openai.resources` loads every resource module of the SDK.
    """
    from openai.resources.chat import Completions

    return frozenset(inspect.signature(Completions.create).parameters) - {"self"}


def call_timeout(timeout: float | httpx.Timeout | None) -> float | httpx.Timeout | None:
    """The timeout the user gave LiteLLM, or None for LiteLLM's own 600 s fallback — then the kluster
    client's `KLUSTER_TIMEOUT` / `KLUSTER_CONNECT_TIMEOUT` apply. (Passing exactly `timeout=600` with
    no `litellm.request_timeout` set cannot be told apart from the fallback, and gets KLUSTER_TIMEOUT.)"""
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return timeout
    if float(timeout) == float(COMPLETION_HTTP_FALLBACK_SECONDS) and get_configured_request_timeout() is None:
        return None
    return timeout


def adaptive_option(*values: Any) -> AdaptiveMode | None:
    """The adaptive-inference mode asked for by `adaptive=` or `extra_body["kluster_adaptive"]`
    (True, a dict of `AdaptiveMode` fields or an `AdaptiveMode`; False/None: real time)."""
    for value in values:
        if value is None:
            continue
        mode = AdaptiveMode.coerce(value)
        if mode is not None:
            return mode
    return None


def wants_drop_params(litellm_params: Mapping[str, Any] | None) -> bool:
    """LiteLLM's `drop_params`: the call's (also a Router deployment's) or the global `litellm.drop_params`."""
    value = (litellm_params or {}).get("drop_params")
    if value is None:
        value = litellm.drop_params
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# What compat refuses that LiteLLM's `drop_params` may remove instead (image input and an output
# limit above the tier's stay refused: dropping them would change what the answer is about).
_DROPPABLE = frozenset(
    {"n", "modalities", "response_format", "tools", "functions", "tool_choice", "parallel_tool_calls"}
)
_TOOL_GROUP = ("tools", "functions", "tool_choice", "function_call", "parallel_tool_calls")
_NOT_CHECKED = ("extra_body", "extra_headers", "timeout")


def drop_refused(kwargs: dict[str, Any], settings: KlusterSettings) -> list[str]:
    """Remove from `kwargs` what compat would refuse (`drop_params=True`), one warning per parameter;
    returns the names removed. Tools on a model without tools go with their tool_choice."""
    dropped: list[str] = []
    while True:
        try:
            check_chat_request({k: v for k, v in kwargs.items() if k not in _NOT_CHECKED}, settings=settings)
        except KlusterUnsupportedError as exc:
            name = exc.parameter
            if name not in _DROPPABLE or name not in kwargs:
                raise
            names = [n for n in (_TOOL_GROUP if name in ("tools", "functions") else (name,)) if n in kwargs]
            for n in names:
                kwargs.pop(n)
            dropped += names
            warnings.warn(
                f"kluster-agents: dropped {', '.join(f'`{n}`' for n in names)} because drop_params=True: {exc}",
                KlusterCompatWarning,
                stacklevel=2,
            )
        else:
            return dropped


def create_kwargs(
    model: str,
    messages: list[Any],
    optional_params: Mapping[str, Any],
    headers: Mapping[str, str] | None,
    timeout: float | httpx.Timeout | None,
) -> dict[str, Any]:
    """`chat.completions.create` keyword arguments from LiteLLM's call (compat runs inside create)."""
    kwargs: dict[str, Any] = {"model": model_name(model), "messages": messages}
    extra_body = dict(optional_params.get("extra_body") or {})
    adaptive = adaptive_option(optional_params.get("adaptive"), extra_body.pop(ADAPTIVE_EXTRA_BODY_KEY, None))
    for name, value in optional_params.items():
        if name in ("extra_body", "max_retries", "adaptive"):
            continue
        if name in _create_params():
            kwargs[name] = value
        else:
            extra_body[name] = value
    if adaptive is not None:
        extra_body = with_adaptive(extra_body, adaptive)
    if extra_body:
        kwargs["extra_body"] = extra_body
    if headers:
        kwargs["extra_headers"] = {**dict(headers), **(kwargs.get("extra_headers") or {})}
    timeout = call_timeout(timeout)
    if timeout is not None:
        kwargs["timeout"] = timeout
    return kwargs


def embedding_kwargs(
    model: str, input: list[Any], optional_params: Mapping[str, Any], timeout: float | httpx.Timeout | None
) -> dict[str, Any]:
    """`embeddings.create` keyword arguments (checked inside create; `float` unless the caller chose). No chat
    rule applies here: `drop_params` (which LiteLLM may leave set globally) is for chat requests."""
    params = {k: v for k, v in optional_params.items() if k != "max_retries"}
    kwargs: dict[str, Any] = {"model": model_name(model), "input": input, "encoding_format": "float", **params}
    timeout = call_timeout(timeout)
    if timeout is not None:
        kwargs["timeout"] = timeout
    return kwargs


_LITELLM_COMPLETION_DEFAULT_TIMEOUT = 600.0


def is_litellm_default_timeout(timeout: Any) -> bool:
    """LiteLLM passes a default when the caller gave none: 600 s (its `completion()` default) or its global
    `request_timeout` (6000 s). An explicit `timeout=600` is indistinguishable and also yields to
    KLUSTER_TIMEOUT."""
    return (
        isinstance(timeout, int | float)
        and not isinstance(timeout, bool)
        and float(timeout) in (_LITELLM_COMPLETION_DEFAULT_TIMEOUT, float(litellm.request_timeout))
    )
