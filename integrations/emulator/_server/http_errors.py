"""The errors the emulator answers with, as `KlusterAPIError`s that know their OpenAI-style body.

Route code raises these; one exception handler turns them into responses. Most carry the OpenAI
envelope `{"error": {message, type, param, code}}`; where the live service was observed answering
another shape (`observed_error`: `{"message", "errorCode"}` at top level, or `{"error": {"message",
"errorCode", "type"}}`), the emulator sends that exact body instead.
"""

from __future__ import annotations

from typing import Any

from kluster_agents.integrations._api.errors import KlusterAPIError


class EmulatorAPIError(KlusterAPIError):
    """An HTTP error the emulator sends to its client (never raised to library users)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
        raw_body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.param = param
        self.code = code
        self.type = type
        self.headers = headers or {}
        self.raw_body = raw_body

    def payload(self) -> dict[str, Any]:
        if self.raw_body is not None:
            return {**self.raw_body, "kluster_emulated": True}
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def observed_error(status_code: int, body: dict[str, Any]) -> EmulatorAPIError:
    """An error answered with exactly the body the live service was seen sending (see tests/fidelity)."""
    nested = body.get("error")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else body
    return EmulatorAPIError(status_code, str(inner.get("message", "")), raw_body=body)


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | int | None = None,
) -> dict[str, Any]:
    """The OpenAI error envelope, marked as emulated."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}, "kluster_emulated": True}


def bad_request(message: str, *, param: str | None = None, code: str = "invalid_request") -> EmulatorAPIError:
    return EmulatorAPIError(400, message, param=param, code=code)


def unsupported(param: str, why: str) -> EmulatorAPIError:
    return EmulatorAPIError(400, f"Unsupported parameter `{param}`: {why}", param=param, code="unsupported_parameter")


def not_found(kind: str, ident: str, *, param: str | None = None) -> EmulatorAPIError:
    code = f"{kind.replace(' ', '_')}_not_found"
    return EmulatorAPIError(404, f"The {kind} `{ident}` does not exist.", param=param, code=code)


def unauthorized(message: str = "Invalid or missing API key.") -> EmulatorAPIError:
    return EmulatorAPIError(401, message, code="invalid_api_key")


def rate_limited(message: str, retry_after: int) -> EmulatorAPIError:
    return EmulatorAPIError(
        429, message, type="rate_limit_error", code="rate_limit_exceeded", headers={"Retry-After": str(retry_after)}
    )


def server_error(status_code: int) -> EmulatorAPIError:
    return EmulatorAPIError(
        status_code,
        f"Injected fault: HTTP {status_code} from the emulator.",
        type="server_error",
        code="emulated_fault",
    )
