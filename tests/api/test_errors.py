"""HTTP error mapping (docs' error shapes through a mock transport) and key redaction."""

from __future__ import annotations

import httpx
import openai
import pytest

from kluster_agents.integrations import (
    KlusterAuthError,
    KlusterBadRequestError,
    KlusterConnectionError,
    KlusterNotFoundError,
    KlusterRateLimitError,
    KlusterServerError,
    KlusterSettings,
    KlusterTimeoutError,
)
from kluster_agents.integrations._api.client import make_client, translate_errors
from kluster_agents.integrations._api.errors import error_from_response, redact

KEY = "kl-live-key-ABCDEF0123456789"


def client_answering(status: int, body, headers=None):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers or {})

    settings = KlusterSettings(api_key=KEY, max_retries=0)
    return make_client(settings, http_client=httpx.Client(transport=httpx.MockTransport(handler)))


@pytest.mark.parametrize(
    ("status", "exc_type", "hint"),
    [
        (400, KlusterBadRequestError, "compat layer"),
        (401, KlusterAuthError, "KLUSTER_API_KEY"),
        (403, KlusterAuthError, "plan"),
        (404, KlusterNotFoundError, "kluster-agents models --refresh"),
        (413, KlusterBadRequestError, "uploads API"),
        (422, KlusterBadRequestError, ""),
        (500, KlusterServerError, "Retry later"),
        (503, KlusterServerError, "Retry later"),
    ],
)
def test_status_codes_map_to_typed_errors(status: int, exc_type: type, hint: str) -> None:
    body = {"error": {"message": f"boom {status}", "type": "invalid_request_error", "param": None, "code": None}}
    client = client_answering(status, body)
    with pytest.raises(exc_type) as info, translate_errors():
        client.chat.completions.create(model="llama-3.3-70b", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status
    assert f"boom {status}" in str(info.value) and hint in str(info.value)
    assert isinstance(info.value.__cause__, openai.APIStatusError)
    assert KEY not in str(info.value) and KEY not in repr(info.value)


def test_rate_limit_carries_retry_after() -> None:
    client = client_answering(429, {"error": {"message": "Too many requests"}}, {"Retry-After": "7"})
    with pytest.raises(KlusterRateLimitError) as info, translate_errors():
        client.models.list()
    assert info.value.retry_after == 7.0 and "Retry-After" in str(info.value)


def test_connection_and_timeout_errors() -> None:
    def refuse(request):
        raise httpx.ConnectError("refused")

    def slow(request):
        raise httpx.ReadTimeout("slow")

    for handler, exc_type in ((refuse, KlusterConnectionError), (slow, KlusterTimeoutError)):
        client = make_client(
            KlusterSettings(api_key=KEY, max_retries=0),
            http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        )
        with pytest.raises(exc_type) as info, translate_errors():
            client.models.list()
        assert "KLUSTER_" in str(info.value)


def test_error_bodies_in_other_shapes() -> None:
    assert "plain detail" in str(error_from_response(400, {"detail": "plain detail"}))
    assert "text body" in str(error_from_response(502, "text body"))
    assert "no error message" in str(error_from_response(500, None))


def test_messages_never_contain_the_key() -> None:
    KlusterSettings(api_key=KEY)  # registers the secret
    err = error_from_response(401, {"error": {"message": f"bad key {KEY} (Authorization: Bearer {KEY})"}})
    assert KEY not in str(err)
    assert redact("api_key=abc123secret") == "api_key=***"
    assert redact("Authorization: Bearer sometoken123") == "Authorization: Bearer ***"
