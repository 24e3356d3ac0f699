"""A scripted Verify service for the Verify, MCP and CLI tests: settings with a recognisable secret key,
and an httpx MockTransport standing in for `POST /v1/verify/reliability` (a pytest plugin: tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._verify.client import VerifyClient

SECRET_KEY = "kl-test-SECRET-key-0042"
BASE_URL = "http://verify.test/v1"

# The documented answer of "Reliability check by Verify" (Eiffel Tower in Rome).
DOCS_HALLUCINATION = {
    "is_hallucination": True,
    "usage": {"completion_tokens": 154, "prompt_tokens": 1100, "total_tokens": 1254},
    "explanation": "The response provides a wrong location for the Eiffel Tower.\n"
    "The Eiffel Tower is actually located in Paris, France, not in Rome.\n"
    "The response contains misinformation as it incorrectly states the tower's location.",
    "search_results": [],
}
RELIABLE = {"is_hallucination": False, "explanation": "Supported.", "usage": {"total_tokens": 10}, "search_results": []}

Handler = Callable[[httpx.Request], httpx.Response]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})}
    )


class ScriptedVerify:
    """Answers each request with the next scripted item (a body dict, an httpx.Response, an
    exception to raise, or a callable(request) -> response); the last item repeats."""

    def __init__(self, *items: Any) -> None:
        self.items = list(items) or [RELIABLE]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.items.pop(0) if len(self.items) > 1 else self.items[0]
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            return item(request)
        return item if isinstance(item, httpx.Response) else json_response(item)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@pytest.fixture
def settings() -> KlusterSettings:
    return KlusterSettings.load(api_key=SECRET_KEY, base_url=BASE_URL, max_retries=0)


@pytest.fixture
def make_client(settings: KlusterSettings) -> Callable[..., tuple[VerifyClient, ScriptedVerify]]:
    """`make_client(*items, **client_kwargs)` -> (VerifyClient on a scripted transport, the script)."""

    def build(
        *items: Any, settings_: KlusterSettings | None = None, **kwargs: Any
    ) -> tuple[VerifyClient, ScriptedVerify]:
        script = ScriptedVerify(*items)
        transport = httpx.MockTransport(script)
        kwargs.setdefault("limiter", False)
        client = VerifyClient(
            settings_ or settings,
            http_client=httpx.Client(transport=transport),
            async_http_client=httpx.AsyncClient(transport=transport),
            retry_backoff=0.0,
            **kwargs,
        )
        return client, script

    return build
