"""Verify client: kluster.ai's hallucination check as one typed call.

Two documented ways in (kluster-docs "Verify API endpoint", "Chat completion Verify API"):
- `verify(prompt, output, context=None)` -> `POST /v1/verify/reliability`;
- `verify_conversation(messages)` -> by default `/v1/verify/reliability` with the conversation
  flattened (prompt = the transcript before the last assistant message, output = that message):
  the live service answered the documented form — chat completions with model
  `klusterai/verify-reliability` and `[system, user, assistant]` — with HTTP 500 `{"error":
  {"message": "Unexpected error occurred", "errorCode": 4000}}` (observed 2025-08). The setting
  `verify_conversation_route` = "chat" uses the documented form (verdict JSON as the message
  content), "auto" tries it first and falls back on a server error.

Both return a `VerifyResult`. The reliability call uses httpx directly on the shared pool
(`client.shared_http_client`, `client.client_kwargs`): it is a plain JSON POST and the
openai SDK's request machinery would add more overhead than the policy layer itself.
Transient failures (5xx, timeouts, dropped connections) are retried `max_retries` times;
429s go to the model's `RateLimiter`, which waits out the Retry-After for the caller that got it
(at most `max_retry_wait`, within the call's `timeout`), then raises `KlusterRateLimitError`.

Long contexts: the Verify model's context window is `get_model(VERIFY_MODEL).limits_for(tier)
.context` tokens. A context that does not fit is either refused or split into overlapping chunks
(`chunking`), and the chunks' verdicts are combined conservatively:
  the output is reliable only if ONE chunk on its own supports all of it; otherwise it is
  reported as a hallucination carrying every chunk's explanation.
A claim supported only by facts spread over two chunks is therefore flagged (a false
positive, never a false pass; `result.combine_chunk_results`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

import httpx

from kluster_agents.integrations._api import tracing
from kluster_agents.integrations._api.catalog import VERIFY_MODEL, get_model
from kluster_agents.integrations._api.client import (
    client_kwargs,
    make_async_client,
    make_client,
    shared_async_http_client,
    shared_http_client,
    translate_errors,
)
from kluster_agents.integrations._api.errors import (
    KlusterConnectionError,
    KlusterError,
    KlusterInvalidRequestError,
    KlusterServerError,
    KlusterTimeoutError,
    KlusterVerifyError,
    error_from_response,
    redact,
)
from kluster_agents.integrations._api.limiter_registry import limiter_for
from kluster_agents.integrations._api.limits import RateLimiter
from kluster_agents.integrations._api.openai_errors import is_page
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._verify.chunking import LongContextMode, request_payloads
from kluster_agents.integrations._verify.conversation import chat_request, flatten_conversation, parse_chat_verdict
from kluster_agents.integrations._verify.result import VerifyResult, VerifySource, combine_chunk_results

logger = logging.getLogger(__name__)

RELIABILITY_PATH = "/verify/reliability"
EMULATOR_HEADER = "x-kluster-emulator"  # the embedded emulator labels every HTTP answer with it...
EMULATED_FIELD = "kluster_emulated"  # ... and every API object it builds with this field


class _PageAnswer(KlusterVerifyError):
    """A 2xx answer that is a page, not JSON (a proxy's or captive portal's): transient, retried like a 5xx."""


class VerifyClient:
    """Calls Verify with retries, rate limiting and long-context handling.

    `long_context`: "chunk" (default; see the module docstring for the combining rule) or
    "refuse" (raise `KlusterInvalidRequestError` before any network call).
    `limiter`: the model's shared `RateLimiter` by default; pass `False` to disable.
    `http_client` / `async_http_client`: override the shared pools (tests, custom transports).
    `user_agent`: a product appended to the User-Agent, naming who asks (e.g. the LiteLLM guardrail).
    """

    def __init__(
        self,
        settings: KlusterSettings | None = None,
        *,
        long_context: LongContextMode = "chunk",
        limiter: RateLimiter | Literal[False] | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        retry_backoff: float = 0.5,
        user_agent: str | None = None,
    ) -> None:
        if long_context not in ("chunk", "refuse"):
            raise KlusterInvalidRequestError(
                f"long_context must be 'chunk' or 'refuse', got {long_context!r}.", parameter="long_context"
            )
        self.settings = resolve_settings(settings)
        self.long_context = long_context
        self.limiter = None if limiter is False else (limiter or limiter_for(VERIFY_MODEL, self.settings))
        self.retry_backoff = retry_backoff
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._url = self.settings.base_url + RELIABILITY_PATH
        self._timeout = httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout)
        self._headers: dict[str, str] | None = None
        self._user_agent = user_agent

    def __repr__(self) -> str:
        return f"VerifyClient(base_url={self.settings.base_url!r}, tier={self.settings.tier.value!r})"

    # -- request building -------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        if self._headers is None:
            kwargs = client_kwargs(self.settings, user_agent=self._user_agent)  # KlusterConfigError without a key
            self._headers = {**kwargs["default_headers"], "Authorization": f"Bearer {kwargs['api_key']}"}
        return self._headers

    def context_limit(self) -> int | None:
        limits = get_model(VERIFY_MODEL).limits_for(self.settings.tier)
        return limits.context if limits else None

    def _payloads(
        self, prompt: str, output: str, context: str | None, return_search_results: bool
    ) -> list[dict[str, Any]]:
        return request_payloads(
            prompt,
            output,
            context,
            return_search_results,
            limit=self.context_limit(),
            tier=self.settings.tier.value,
            long_context=self.long_context,
        )

    # -- transport ----------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return min(8.0, self.retry_backoff * 2.0**attempt) * (0.5 + random.random() / 2)

    def _result(self, response: httpx.Response, started: float) -> VerifyResult:
        if response.status_code >= 400:
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            raise error_from_response(
                response.status_code, body, headers=response.headers, request_id=response.headers.get("x-request-id")
            )
        if is_page(response):
            raise _PageAnswer(
                f"Verify answered HTTP {response.status_code} with a page, not JSON (a proxy's or captive "
                f"portal's? {redact(response.text)[:120]!r}); no verdict. Check your network and KLUSTER_BASE_URL."
            )
        try:
            body = response.json()
        except ValueError:
            raise KlusterVerifyError(
                f"Verify answered HTTP {response.status_code} with malformed JSON "
                f"({redact(response.text)[:120]!r}); no verdict."
            ) from None
        return VerifyResult.from_verdict(
            body,
            source="reliability",
            latency_s=time.perf_counter() - started,
            emulated=EMULATOR_HEADER in response.headers or (isinstance(body, dict) and bool(body.get(EMULATED_FIELD))),
        )

    def _rate_limit_wait(self) -> dict[str, float]:
        """How long one call may wait out 429s: each Retry-After at most `max_retry_wait`, all of them
        within the call's `timeout`."""
        return {"max_wait": self.settings.max_retry_wait, "budget": self.settings.timeout}

    def _retryable(self, exc: Exception, attempt: int) -> bool:
        retry = attempt < self.settings.max_retries and isinstance(
            exc, (KlusterServerError, KlusterTimeoutError, KlusterConnectionError, _PageAnswer)
        )
        if retry:
            logger.info("Verify: retry %d of %d after %s", attempt + 1, self.settings.max_retries, type(exc).__name__)
        return retry

    def _post_once(self, payload: dict[str, Any]) -> VerifyResult:
        started = time.perf_counter()
        http = self._http_client or shared_http_client(self.settings)
        with _transport_errors():
            response = http.post(self._url, json=payload, headers=self._auth_headers(), timeout=self._timeout)
        return self._result(response, started)

    async def _apost_once(self, payload: dict[str, Any]) -> VerifyResult:
        started = time.perf_counter()
        http = self._async_http_client or shared_async_http_client(self.settings)
        with _transport_errors():
            response = await http.post(self._url, json=payload, headers=self._auth_headers(), timeout=self._timeout)
        return self._result(response, started)

    def _post(self, payload: dict[str, Any]) -> VerifyResult:
        attempt = 0
        while True:
            try:
                if self.limiter is None:
                    return self._post_once(payload)
                return self.limiter.call(lambda: self._post_once(payload), **self._rate_limit_wait())
            except KlusterError as exc:
                if not self._retryable(exc, attempt):
                    raise
                time.sleep(self._backoff(attempt))
                attempt += 1

    async def _apost(self, payload: dict[str, Any]) -> VerifyResult:
        attempt = 0
        while True:
            try:
                if self.limiter is None:
                    return await self._apost_once(payload)
                return await self.limiter.acall(lambda: self._apost_once(payload), **self._rate_limit_wait())
            except KlusterError as exc:
                if not self._retryable(exc, attempt):
                    raise
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1

    # -- public API ---------------------------------------------------------------------------

    def verify(
        self, prompt: str, output: str, context: str | None = None, return_search_results: bool = False
    ) -> VerifyResult:
        """Check `output` (the answer to `prompt`) against `context`, or against the web without one."""
        payloads = self._payloads(prompt, output, context, return_search_results)
        with _span("reliability", len(payloads)) as traced:
            if len(payloads) == 1:
                return _traced(traced, self._post(payloads[0]))
            results = []
            for payload in payloads:
                results.append(self._post(payload))
                if results[-1].reliable:
                    break  # one chunk supporting the whole output decides (see module docstring)
            return _traced(traced, combine_chunk_results(results))

    async def averify(
        self, prompt: str, output: str, context: str | None = None, return_search_results: bool = False
    ) -> VerifyResult:
        """Async twin of `verify`."""
        payloads = self._payloads(prompt, output, context, return_search_results)
        with _span("reliability", len(payloads)) as traced:
            if len(payloads) == 1:
                return _traced(traced, await self._apost(payloads[0]))
            results = []
            for payload in payloads:
                results.append(await self._apost(payload))
                if results[-1].reliable:
                    break
            return _traced(traced, combine_chunk_results(results))

    def _chat_result(self, completion: Any, started: float) -> VerifyResult:
        content = completion.choices[0].message.content if completion.choices else None
        return VerifyResult.from_verdict(
            parse_chat_verdict(content),
            source="chat",
            latency_s=time.perf_counter() - started,
            emulated=bool((completion.model_extra or {}).get(EMULATED_FIELD)),
        )

    def verify_conversation(self, messages: Sequence[Mapping[str, Any]]) -> VerifyResult:
        """Check the last assistant answer of a whole conversation (route: the
        `verify_conversation_route` setting, see the module docstring)."""
        request = chat_request(messages, self.settings, self.context_limit())
        route = self.settings.verify_conversation_route
        if route == "reliability":
            return self.verify(*flatten_conversation(messages))
        client = make_client(self.settings)
        if route == "auto":
            client = client.with_options(max_retries=0)  # a 500 here means "fall back", not "retry"

        def call() -> VerifyResult:
            started = time.perf_counter()
            with translate_errors():
                completion = client.chat.completions.create(**request)
            return self._chat_result(completion, started)

        try:
            with _span("chat", 1) as traced:
                return _traced(
                    traced, call() if self.limiter is None else self.limiter.call(call, **self._rate_limit_wait())
                )
        except KlusterServerError:
            if route != "auto":
                raise
            return self.verify(*flatten_conversation(messages))

    async def averify_conversation(self, messages: Sequence[Mapping[str, Any]]) -> VerifyResult:
        """Async twin of `verify_conversation`."""
        request = chat_request(messages, self.settings, self.context_limit())
        route = self.settings.verify_conversation_route
        if route == "reliability":
            return await self.averify(*flatten_conversation(messages))
        client = make_async_client(self.settings)
        if route == "auto":
            client = client.with_options(max_retries=0)

        async def call() -> VerifyResult:
            started = time.perf_counter()
            with translate_errors():
                completion = await client.chat.completions.create(**request)
            return self._chat_result(completion, started)

        try:
            with _span("chat", 1) as traced:
                result = (
                    await call() if self.limiter is None else await self.limiter.acall(call, **self._rate_limit_wait())
                )
                return _traced(traced, result)
        except KlusterServerError:
            if route != "auto":
                raise
            return await self.averify(*flatten_conversation(messages))


def _span(route: VerifySource, chunks: int) -> AbstractContextManager[tracing.Span]:
    """One Verify check's span: the route it takes and how many context chunks it sends."""
    attributes: tracing.Attributes = {
        "gen_ai.request.model": VERIFY_MODEL,
        "kluster.verify.route": route,
        "kluster.verify.chunks": chunks,
    }
    return tracing.span("kluster.verify", attributes)


def _traced(traced: tracing.Span, result: VerifyResult) -> VerifyResult:
    """`result`, with its verdict (never the texts checked) put on the check's span."""
    attributes: dict[str, tracing.AttributeValue | None] = {
        "kluster.verify.status": result.status,
        "kluster.verify.is_hallucination": result.is_hallucination,
        "kluster.verify.emulated": result.emulated,
    }
    traced.set({**attributes, **tracing.usage_attributes(result.usage)})
    return result


@contextmanager
def _transport_errors() -> Iterator[None]:
    """Map httpx transport failures to `KlusterTimeoutError` / `KlusterConnectionError`."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise KlusterTimeoutError(
            "Verify request to kluster.ai timed out — raise KLUSTER_TIMEOUT or retry later."
        ) from exc
    except httpx.TransportError as exc:
        raise KlusterConnectionError(
            f"Could not reach kluster.ai Verify ({exc.__class__.__name__}) — check KLUSTER_BASE_URL and your network."
        ) from exc


def verify(
    prompt: str,
    output: str,
    context: str | None = None,
    return_search_results: bool = False,
    *,
    settings: KlusterSettings | None = None,
) -> VerifyResult:
    """One-shot `VerifyClient(settings).verify(...)`."""
    return VerifyClient(settings).verify(prompt, output, context, return_search_results)


async def averify(
    prompt: str,
    output: str,
    context: str | None = None,
    return_search_results: bool = False,
    *,
    settings: KlusterSettings | None = None,
) -> VerifyResult:
    """One-shot `VerifyClient(settings).averify(...)`."""
    return await VerifyClient(settings).averify(prompt, output, context, return_search_results)


def verify_conversation(
    messages: Sequence[Mapping[str, Any]], *, settings: KlusterSettings | None = None
) -> VerifyResult:
    """One-shot `VerifyClient(settings).verify_conversation(messages)`."""
    return VerifyClient(settings).verify_conversation(messages)
