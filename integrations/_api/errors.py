"""The `KlusterError` hierarchy and the mapping from HTTP/openai failures to it.

Every message says what to do next, and none ever contains the API key or MCP token:
`redact()` scrubs known secrets from any text we put into an exception.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SECRET_PATTERNS = [
    re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]+", re.IGNORECASE),
    # a value with at least one letter or digit: `token=abc` is a secret, the hint "pass token=." is not
    re.compile(
        r"((?:api[_-]?key|token|authorization)[\"']?\s*[:=]\s*[\"']?(?:Bearer\s+)?+)(?=[^\s\"',}]*\w)[^\s\"',}]+",
        re.IGNORECASE,
    ),
]
_registered_secrets: dict[str, re.Pattern[str] | None] = {}

# Long secrets are replaced wherever they occur; short ones (any length is accepted) only where they
# stand alone as a token, so a 6-character key is redacted without mangling words that contain it.
_SUBSTRING_SECRET_LENGTH = 12


# Published placeholder keys that protect nothing (the embedded emulator's documented default key);
# redacting them would only garble messages that mention the emulator.
_PUBLIC_PLACEHOLDERS = frozenset({"emulator"})


def register_secret(value: str | None) -> None:
    """Remember a secret (of any length) so that `redact()` removes it from any later message."""
    if not value or value.strip() in _PUBLIC_PLACEHOLDERS:
        return
    for variant in {value, value.strip()}:
        if variant and variant not in _registered_secrets:
            _registered_secrets[variant] = (
                None
                if len(variant) >= _SUBSTRING_SECRET_LENGTH
                else re.compile(r"(?<![A-Za-z0-9_\-])" + re.escape(variant) + r"(?![A-Za-z0-9_\-])")
            )


def redact(text: str) -> str:
    """Remove registered secrets and bearer/api-key looking values from `text`."""
    for secret, pattern in sorted(_registered_secrets.items(), key=lambda item: -len(item[0])):
        text = text.replace(secret, "***") if pattern is None else pattern.sub("***", text)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


def redact_value(value: Any) -> Any:
    """`redact()` applied to every string inside a JSON-like value (error bodies)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def scrub_exception(exc: BaseException) -> BaseException:
    """Redact secrets in place from an exception and its cause/context chain (message, args, body,
    response text), so a traceback or `repr` of any link never shows a key the server echoed."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.args = tuple(redact_value(a) for a in link.args)
        for attr in ("message", "body"):
            value = getattr(link, attr, None)
            if isinstance(value, str | dict | list):
                try:
                    setattr(link, attr, redact_value(value))
                except (AttributeError, TypeError):  # read-only property (KlusterError.message)
                    pass
        response = getattr(link, "response", None)
        _scrub_response(response)
        link = link.__cause__ or link.__context__
    return exc


def _scrub_response(response: Any) -> None:
    """Replace an httpx.Response's body with its redacted text (only when a secret is in it)."""
    content = getattr(response, "_content", None)
    if not isinstance(content, bytes):
        return
    text = content.decode("utf-8", "replace")
    cleaned = redact(text)
    if cleaned != text:
        response._content = cleaned.encode()
        if hasattr(response, "_text"):  # httpx caches the decoded text
            del response._text


class KlusterError(Exception):
    """Base class of every error this library raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @message.setter
    def message(self, value: str) -> None:
        # Frameworks append to `e.message` (LiteLLM's Router adds deployment and fallback notes):
        # allow it, and keep the new text redacted too.
        self.args = (redact(str(value)),)


class KlusterConfigError(KlusterError, ValueError):
    """Settings are missing or invalid (no key, bad base URL, unknown tier)."""


class KlusterUnsupportedError(KlusterError, ValueError):
    """A request uses something kluster.ai does not accept; raised before any network call."""

    def __init__(self, message: str, *, parameter: str | None = None, model: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.model = model


class KlusterAPIError(KlusterError):
    """The service answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        request_id: str | None = None,
        code: str | int | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = redact_value(body)
        self.request_id = request_id
        self.code = code
        self.error_type = error_type


class KlusterBadRequestError(KlusterAPIError):
    """400/413/422: the request was rejected as invalid."""


class KlusterAuthError(KlusterAPIError):
    """401/403: the key is missing, wrong or lacks access."""


class KlusterNotFoundError(KlusterAPIError):
    """404: unknown model, file, batch or job."""


class KlusterRateLimitError(KlusterAPIError):
    """429: too many requests; `retry_after` seconds says when to try again."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class KlusterServerError(KlusterAPIError):
    """5xx: the service failed; retrying later may work."""


class KlusterTimeoutError(KlusterError, TimeoutError):
    """The request or job did not finish within the configured time."""


class KlusterConnectionError(KlusterError, ConnectionError):
    """The service could not be reached."""


class KlusterResponseError(KlusterError):
    """The service answered 200 but the answer is unusable (malformed JSON, wrong shape); retrying may work."""


class KlusterStreamError(KlusterResponseError):
    """A streamed completion ended early (no finish chunk / `[DONE]`) or broke mid-way: the text so far
    is incomplete. Retry the request; nothing partial is ever returned as a complete answer."""


class KlusterBatchError(KlusterError):
    """A Batch API job or line failed; carries the `custom_id` where there is one."""

    def __init__(self, message: str, *, custom_id: str | None = None, batch_id: str | None = None) -> None:
        super().__init__(message)
        self.custom_id = custom_id
        self.batch_id = batch_id


class KlusterDiskError(KlusterError, OSError):
    """A local file could not be written: the disk (or quota) is full or read-only. `path` names it;
    nothing half-written is left to pass for complete."""

    def __init__(self, message: str, *, path: str) -> None:
        KlusterError.__init__(self, message)
        self.path = path


class KlusterVerifyError(KlusterError):
    """Verify could not give a verdict (outage, timeout, malformed answer)."""


_HINTS = {
    400: "Check the request parameters; kluster-agents' compat layer lists what the endpoint accepts.",
    401: "Check KLUSTER_API_KEY (create one at https://platform.kluster.ai/apikeys).",
    403: "Your key lacks access to this resource or model; check your plan at https://platform.kluster.ai/plans.",
    404: "Check the model/file/batch id; `kluster-agents models --refresh` lists the models your key can use.",
    413: "The payload is too large; split the input (batch files: 100 MB per upload, use the uploads API above).",
    429: "Slow down: lower concurrency or wait for Retry-After; tier limits are in `kluster-agents models`.",
}


def error_details(body: Any) -> tuple[str | None, str | int | None, str | None]:
    """(message, code, type) from any error body kluster.ai was seen sending: the OpenAI envelope
    `{"error": {"message", "type", "param", "code"}}`, `{"error": {"message", "errorCode", "type"}}`,
    `{"message", "errorCode"}` at top level (both observed on the live service), `{"detail": ...}`,
    a bare string."""
    if isinstance(body, str):
        return (body[:500] or None), None, None
    if not isinstance(body, dict):
        return None, None, None
    inner = body.get("error")
    err = inner if isinstance(inner, dict) else body
    message = err.get("message") or err.get("detail")
    if not message and isinstance(inner, str):
        message = inner
    if not message and isinstance(body.get("detail"), str):
        message = body["detail"]
    code = err.get("code")
    if code is None:
        code = err.get("errorCode", body.get("errorCode"))
    kind = err.get("type")
    return (str(message) if message else None), code, (str(kind) if kind else None)


def _error_message_from_body(body: Any) -> str | None:
    return error_details(body)[0]


_EMPTY_BODY_MARKER = "Body cannot be empty"


def _parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(
    status_code: int,
    body: Any = None,
    *,
    headers: Any = None,
    request_id: str | None = None,
) -> KlusterAPIError:
    """Map an HTTP error status (and its JSON body, in any observed shape) to the matching `KlusterAPIError`."""
    text, code, error_type = error_details(body)
    detail = (text or "no error message in the response") + (f" (code {code})" if code not in (None, "") else "")
    hint = _HINTS.get(
        status_code, "Retry later; if it persists, contact support@kluster.ai." if status_code >= 500 else ""
    )
    if text and _EMPTY_BODY_MARKER in text:  # observed answer to a bodiless JSON POST (e.g. SDK cancel)
        hint = "send a JSON body (`{}`, e.g. extra_body={}) with the request; kluster.ai refuses an empty one."
    message = f"kluster.ai returned HTTP {status_code}: {detail}" + (f" — {hint}" if hint else "")
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "body": body,
        "request_id": request_id,
        "code": code,
        "error_type": error_type,
    }
    if status_code == 429:
        retry_after = _parse_retry_after(headers.get("retry-after") if headers is not None else None)
        return KlusterRateLimitError(message, retry_after=retry_after, **kwargs)
    if status_code in (401, 403):
        return KlusterAuthError(message, **kwargs)
    if status_code == 404:
        return KlusterNotFoundError(message, **kwargs)
    if status_code >= 500:
        return KlusterServerError(message, **kwargs)
    return KlusterBadRequestError(message, **kwargs)


def from_openai_error(exc: BaseException) -> KlusterError:
    """Translate an `openai` SDK exception into the matching `KlusterError` (keeps the cause)."""
    import openai

    if isinstance(exc, KlusterError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return KlusterTimeoutError("Request to kluster.ai timed out — raise KLUSTER_TIMEOUT or retry later.")
    if isinstance(exc, openai.APIConnectionError):
        return KlusterConnectionError(
            f"Could not reach kluster.ai ({exc.__class__.__name__}) — check KLUSTER_BASE_URL and your network."
        )
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        return KlusterResponseError(
            "kluster.ai answered with a malformed response (not the expected JSON) — retry the request; "
            "if it persists, check KLUSTER_BASE_URL points at the kluster API (…/v1)."
        )
    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        try:
            body = response.json()
        except Exception:
            body = response.text
        return error_from_response(
            response.status_code, body, headers=response.headers, request_id=response.headers.get("x-request-id")
        )
    return KlusterError(f"Unexpected error talking to kluster.ai: {exc.__class__.__name__}: {exc}")


class KlusterInvalidRequestError(KlusterError, ValueError):
    """The request is malformed (no messages, no model, bad JSONL line); caught before any network call."""

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter
