"""A 200 answer that is a page, not JSON (a captive portal's or proxy's), is transient: it is retried like
a 5xx within the client's `max_retries`, then raised typed. Counted through httpx mock transports."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.errors import KlusterResponseError, KlusterVerifyError
from kluster_agents.integrations._api.kluster_openai import AsyncKlusterOpenAI, KlusterOpenAI
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._verify.client import VerifyClient

from .conftest import MODEL, user

EMBEDDING_MODEL = "BAAI/bge-m3"
PORTAL = "<html><body><h1>Welcome to the hotel wifi</h1><form>Log in</form></body></html>"

CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
EMBEDDING = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
    "model": EMBEDDING_MODEL,
    "usage": {"prompt_tokens": 1, "total_tokens": 1},
}
VERDICT = {"is_hallucination": False, "explanation": "Supported.", "usage": {"total_tokens": 10}, "search_results": []}


class Script:
    """Answers `pages` captive-portal pages, then `body` as JSON; counts the requests."""

    def __init__(self, pages: int, body: Any = None) -> None:
        self.pages, self.body, self.requests = pages, body, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests <= self.pages:
            return httpx.Response(200, text=PORTAL, headers={"content-type": "text/html; charset=utf-8"})
        return httpx.Response(200, json=self.body)


@pytest.fixture
def settings() -> KlusterSettings:
    return KlusterSettings.load(api_key="sk-page-test-key", base_url="http://kluster.test/v1")


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's backoff between attempts (0.5 s and up) only slows the suite: attempts are what is counted."""
    for cls in (KlusterOpenAI, AsyncKlusterOpenAI):
        monkeypatch.setattr(cls, "_calculate_retry_timeout", lambda *args, **kwargs: 0.0)


CALLS: dict[str, tuple[Callable[[Any], Any], dict[str, Any]]] = {
    "chat": (lambda c: c.chat.completions.create(model=MODEL, messages=user("hi")), CHAT),
    "raw chat": (lambda c: c.chat.completions.with_raw_response.create(model=MODEL, messages=user("hi")), CHAT),
    "embeddings": (lambda c: c.embeddings.create(model=EMBEDDING_MODEL, input="hi"), EMBEDDING),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_pages_are_retried_then_the_answer_is_returned(settings: KlusterSettings, call: str) -> None:
    do, body = CALLS[call]
    script = Script(pages=2, body=body)
    client = make_client(settings, max_retries=2, http_client=httpx.Client(transport=httpx.MockTransport(script)))
    result = do(client)
    assert (result.parse() if call == "raw chat" else result) is not None
    assert script.requests == 3


@pytest.mark.parametrize("call", list(CALLS))
async def test_async_pages_are_retried_then_the_answer_is_returned(settings: KlusterSettings, call: str) -> None:
    do, body = CALLS[call]
    script = Script(pages=2, body=body)
    transport = httpx.MockTransport(script)
    client = make_async_client(settings, max_retries=2, http_client=httpx.AsyncClient(transport=transport))
    result = await do(client)
    assert (result.parse() if call == "raw chat" else result) is not None
    assert script.requests == 3


@pytest.mark.parametrize("call", list(CALLS))
def test_pages_past_the_retry_budget_are_a_typed_error(settings: KlusterSettings, call: str) -> None:
    do, body = CALLS[call]
    script = Script(pages=10, body=body)
    client = make_client(settings, max_retries=2, http_client=httpx.Client(transport=httpx.MockTransport(script)))
    with pytest.raises(KlusterResponseError, match="not JSON") as info:
        do(client)
    assert isinstance(info.value, openai.APIError)  # what openai users and framework retry logic catch
    assert script.requests == 3  # the first attempt and max_retries=2


async def test_async_pages_past_the_retry_budget_are_a_typed_error(settings: KlusterSettings) -> None:
    script = Script(pages=10)
    transport = httpx.MockTransport(script)
    client = make_async_client(settings, max_retries=1, http_client=httpx.AsyncClient(transport=transport))
    with pytest.raises(KlusterResponseError, match="not JSON"):
        await client.chat.completions.create(model=MODEL, messages=user("hi"))
    assert script.requests == 2


def test_malformed_json_from_the_service_is_not_retried(settings: KlusterSettings) -> None:
    """A body labelled JSON is the service's own answer, not a portal's page: typed, sent once."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, text='{"id": "x", "choices": [', headers={"content-type": "application/json"})

    client = make_client(settings, max_retries=2, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(KlusterResponseError):
        client.chat.completions.create(model=MODEL, messages=user("hi"))
    assert len(requests) == 1


def test_file_content_that_is_not_json_is_not_a_page(settings: KlusterSettings) -> None:
    """Downloads are not API objects: their bytes come back as they are, in one request."""
    lines = b'{"custom_id": "a"}\n{"custom_id": "b"}\n'
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=lines, headers={"content-type": "application/octet-stream"})

    client = make_client(settings, max_retries=2, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert client.files.content("file-1").content == lines
    assert len(requests) == 1


def _verify_client(settings: KlusterSettings, script: Script, max_retries: int) -> VerifyClient:
    transport = httpx.MockTransport(script)
    return VerifyClient(
        settings.model_copy(update={"max_retries": max_retries}),
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
        retry_backoff=0.0,
        limiter=False,
    )


def test_verify_retries_pages(settings: KlusterSettings) -> None:
    script = Script(pages=2, body=VERDICT)
    assert _verify_client(settings, script, max_retries=2).verify("q", "a").reliable
    assert script.requests == 3


async def test_async_verify_retries_pages(settings: KlusterSettings) -> None:
    script = Script(pages=1, body=VERDICT)
    assert (await _verify_client(settings, script, max_retries=1).averify("q", "a")).reliable
    assert script.requests == 2


def test_verify_pages_past_the_retry_budget_are_a_typed_error(settings: KlusterSettings) -> None:
    script = Script(pages=10)
    with pytest.raises(KlusterVerifyError, match="captive portal"):
        _verify_client(settings, script, max_retries=2).verify("q", "a")
    assert script.requests == 3


def test_verify_malformed_json_is_not_retried(settings: KlusterSettings) -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, text=json.dumps(VERDICT)[:-3], headers={"content-type": "application/json"})

    transport = httpx.MockTransport(handler)
    client = VerifyClient(
        settings.model_copy(update={"max_retries": 2}),
        http_client=httpx.Client(transport=transport),
        retry_backoff=0.0,
        limiter=False,
    )
    with pytest.raises(KlusterVerifyError, match="malformed"):
        client.verify("q", "a")
    assert len(requests) == 1
