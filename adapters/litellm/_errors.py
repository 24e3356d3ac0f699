"""kluster errors that LiteLLM lets through unchanged.

LiteLLM re-wraps any exception a provider raises unless it already is one of its own
types (`litellm.LITELLM_EXCEPTION_TYPES`); a plain `KlusterUnsupportedError` would come out
as `litellm.APIConnectionError` (and be retried by a Router). These classes are both: a
`KlusterUnsupportedError` / `KlusterInvalidRequestError` / `KlusterConfigError` for kluster
users and a `litellm.BadRequestError` (400, never retried, no fallback) for LiteLLM's
Router, proxy and callbacks.
"""

from __future__ import annotations

import litellm

from kluster_agents.integrations._api.errors import (
    KlusterConfigError,
    KlusterError,
    KlusterInvalidRequestError,
    KlusterResponseError,
    KlusterStreamError,
    KlusterTimeoutError,
    KlusterUnsupportedError,
)

PROVIDER = "kluster"


class _LiteLLMBadRequest(litellm.BadRequestError):
    # LiteLLM assigns `self.message`; KlusterError exposes it as a read-only property.
    message: str = ""

    def _init_litellm(self, error: KlusterError, model: str | None) -> None:
        litellm.BadRequestError.__init__(self, error.message, model=model, llm_provider=PROVIDER)

    def __str__(self) -> str:
        return self.args[0] if self.args else self.message


class LiteLLMKlusterUnsupportedError(_LiteLLMBadRequest, KlusterUnsupportedError):
    """A parameter kluster.ai refuses (raised before the network), as a LiteLLM 400."""

    def __init__(self, error: KlusterUnsupportedError) -> None:
        self._init_litellm(error, error.model)
        KlusterUnsupportedError.__init__(self, error.message, parameter=error.parameter, model=error.model)


class LiteLLMKlusterInvalidRequestError(_LiteLLMBadRequest, KlusterInvalidRequestError):
    """A malformed request (no messages, bad message) caught before the network, as a LiteLLM 400."""

    def __init__(self, error: KlusterInvalidRequestError, model: str | None = None) -> None:
        self._init_litellm(error, model)
        KlusterInvalidRequestError.__init__(self, error.message, parameter=error.parameter)


class LiteLLMKlusterConfigError(_LiteLLMBadRequest, KlusterConfigError):
    """Missing key or bad settings, as a LiteLLM 400 (so a Router does not retry it)."""

    def __init__(self, error: KlusterConfigError, model: str | None = None) -> None:
        self._init_litellm(error, model)
        KlusterConfigError.__init__(self, error.message)


class LiteLLMKlusterStreamError(KlusterStreamError, litellm.APIConnectionError):
    """A stream that ended without its finish chunk or broke mid-way, as a LiteLLM connection error
    (so a Router retries it) that is also a `KlusterStreamError`."""

    message: str = ""

    def __init__(self, error: KlusterError, model: str | None = None) -> None:
        litellm.APIConnectionError.__init__(self, error.message, llm_provider=PROVIDER, model=model or "")
        self.args = (error.message,)  # already redacted by KlusterError

    def __str__(self) -> str:
        return self.args[0] if self.args else self.message


class LiteLLMKlusterResponseError(KlusterResponseError, litellm.APIError):
    """A malformed 200 answer, as a LiteLLM `APIError` (500-class, retried by a Router) that is also a
    `KlusterResponseError`."""

    message: str = ""

    def __init__(self, error: KlusterError, model: str | None = None) -> None:
        litellm.APIError.__init__(self, 500, error.message, llm_provider=PROVIDER, model=model or "")
        self.args = (error.message,)

    def __str__(self) -> str:
        return self.args[0] if self.args else self.message


class LiteLLMKlusterTimeoutError(KlusterTimeoutError, litellm.Timeout):
    """A request past KLUSTER_TIMEOUT (or the call's timeout), as a `litellm.Timeout` (retried by a Router)
    that is also a `KlusterTimeoutError`."""

    message: str = ""

    def __init__(self, error: KlusterError, model: str | None = None) -> None:
        litellm.Timeout.__init__(self, error.message, model=model or "", llm_provider=PROVIDER)
        self.args = (error.message,)

    def __str__(self) -> str:
        return self.args[0] if self.args else self.message


def as_litellm_error(error: KlusterError, model: str | None = None) -> Exception:
    """The LiteLLM-passable twin of a pre-network kluster error (others are returned as is)."""
    if isinstance(error, _LiteLLMBadRequest):
        return error
    if isinstance(error, KlusterUnsupportedError):
        return LiteLLMKlusterUnsupportedError(error)
    if isinstance(error, KlusterInvalidRequestError):
        return LiteLLMKlusterInvalidRequestError(error, model)
    if isinstance(error, KlusterConfigError):
        return LiteLLMKlusterConfigError(error, model)
    if isinstance(error, LiteLLMKlusterStreamError | LiteLLMKlusterResponseError | LiteLLMKlusterTimeoutError):
        return error
    if isinstance(error, KlusterTimeoutError):
        return LiteLLMKlusterTimeoutError(error, model)
    if isinstance(error, KlusterStreamError):
        return LiteLLMKlusterStreamError(error, model)
    if isinstance(error, KlusterResponseError):
        return LiteLLMKlusterResponseError(error, model)
    return error
