"""`CloudMCPClient`: the cloud `verify` / `verify_document` tools (docs "MCP tools reference")
through the official MCP SDK over streamable HTTP, authenticated with the MCP token; async methods
plus sync twins for scripts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from kluster_agents.integrations._api.errors import (
    KlusterConfigError,
    KlusterError,
    KlusterVerifyError,
    redact,
    register_secret,
)
from kluster_agents.integrations._api.extras import require
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._verify.client import EMULATED_FIELD, EMULATOR_HEADER
from kluster_agents.integrations._verify.result import VerifyResult
from kluster_agents.integrations.mcp._management import status

T = TypeVar("T")


def _tool_payload(result: Any) -> Mapping[str, Any]:
    """The verdict object of a `tools/call` result: structured content, or JSON text content."""
    structured = getattr(result, "structuredContent", None)
    if isinstance(structured, Mapping):
        inner = structured.get("result", structured)
        if isinstance(inner, Mapping) and "is_hallucination" in inner:
            return inner
    texts = [getattr(part, "text", "") for part in getattr(result, "content", []) or []]
    for text in texts:
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if isinstance(parsed, Mapping):
            return parsed
    raise KlusterVerifyError(
        f"The MCP verify tool answered without a JSON verdict ({redact(' '.join(texts))[:160]!r})."
    )


def result_from_tool(result: Any, *, latency_s: float, emulated: bool = False) -> VerifyResult:
    """Turn an MCP `CallToolResult` of `verify`/`verify_document` into a `VerifyResult`."""
    if getattr(result, "isError", False):
        text = " ".join(getattr(part, "text", "") for part in result.content or [])
        raise KlusterVerifyError(f"The MCP verify tool failed: {redact(text)[:300]}")
    payload = _tool_payload(result)
    return VerifyResult.from_verdict(
        payload, source="mcp", latency_s=latency_s, emulated=emulated or bool(payload.get(EMULATED_FIELD))
    )


# -- cloud client ---------------------------------------------------------------------------------


def _leaf_error(exc: BaseException) -> BaseException:
    """The first real failure inside (nested) exception groups raised by the MCP SDK's task groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _session_error(exc: BaseException, url: str) -> KlusterError:
    leaf = _leaf_error(exc)
    if isinstance(leaf, KlusterError):
        return leaf
    if isinstance(leaf, httpx.HTTPStatusError):
        status_code = leaf.response.status_code
        hint = (
            " Check the MCP token (`kluster-agents mcp status`; enable the endpoint with `kluster-agents mcp enable`)."
            if status_code in (401, 403)
            else ""
        )
        return KlusterVerifyError(f"The MCP endpoint {url} answered HTTP {status_code}.{hint}")
    return KlusterVerifyError(f"MCP session with {url} failed: {leaf.__class__.__name__}: {redact(str(leaf))[:300]}")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when the caller already sits inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class CloudMCPClient:
    """Client of the cloud MCP tools. Without `token`, it is read from `status()` with the API key.

    `async with CloudMCPClient() as mcp:` keeps one MCP session for many calls; the one-shot
    methods (`averify`, `verify`, ...) open a session when none is open.
    """

    def __init__(
        self,
        token: str | SecretStr | None = None,
        url: str | None = None,
        *,
        settings: KlusterSettings | None = None,
        timeout: float | None = None,
    ) -> None:
        self._settings = settings
        if isinstance(token, str):
            register_secret(token)
            token = SecretStr(token)
        self._token = token
        self._url = url
        self._timeout = timeout
        self._session: Any = None
        self._stack: AsyncExitStack | None = None
        self._emulated = False  # set when an answer carries the emulator's header

    def __repr__(self) -> str:
        return f"CloudMCPClient(url={self._url!r}, token={'set' if self._token else 'from status()'})"

    def _endpoint(self) -> tuple[str, str]:
        if self._token is None or self._url is None:
            settings = resolve_settings(self._settings)
            if self._token is None:
                state = status(settings)
                if not state.enabled or state.token is None:
                    raise KlusterConfigError(
                        "Your kluster.ai MCP endpoint is disabled: run `kluster-agents mcp enable` "
                        "(or mcp.enable()) first, or give CloudMCPClient your MCP token."
                    )
                self._token = state.token
                self._url = self._url or state.url
            self._url = self._url or settings.base_url + "/mcp"
            self._timeout = self._timeout or settings.timeout
        return self._url, self._token.get_secret_value()

    async def __aenter__(self) -> CloudMCPClient:
        require("mcp", "mcp")
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        url, token = self._endpoint()
        stack = AsyncExitStack()

        async def note_emulator(response: httpx.Response) -> None:
            self._emulated = self._emulated or EMULATOR_HEADER in response.headers

        try:
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=httpx.Timeout(30.0, read=self._timeout or 300.0),
                    event_hooks={"response": [note_emulator]},
                )
            )
            read, write, _ = await stack.enter_async_context(streamable_http_client(url, http_client=http))
            self._session = await stack.enter_async_context(ClientSession(read, write))
            await self._session.initialize()
        except BaseException as exc:  # the SDK's task group cancels us when the transport fails
            self._session = None
            failure: BaseException = exc
            try:
                await stack.aclose()  # ... and re-raises the transport's error here
            except BaseException as close_exc:
                failure = close_exc
            if isinstance(_leaf_error(failure), Exception):
                raise _session_error(failure, url) from None
            raise failure  # noqa: B904 - a KeyboardInterrupt or cancellation propagates as it is
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        stack, self._stack, self._session = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _with_session(self, work: Callable[[Any], Awaitable[T]]) -> T:
        if self._session is not None:
            return await work(self._session)
        try:
            async with self:
                return await work(self._session)
        except BaseException as exc:
            if isinstance(_leaf_error(exc), Exception):
                raise _session_error(exc, self._url or "") from None
            raise

    async def alist_tools(self) -> list[str]:
        """Names of the tools the endpoint offers."""

        async def work(session: Any) -> list[str]:
            return [tool.name for tool in (await session.list_tools()).tools]

        return await self._with_session(work)

    async def _call(self, name: str, arguments: dict[str, Any]) -> VerifyResult:
        async def work(session: Any) -> VerifyResult:
            loop = asyncio.get_running_loop()
            started = loop.time()
            result = await session.call_tool(name, arguments)
            return result_from_tool(result, latency_s=loop.time() - started, emulated=self._emulated)

        return await self._with_session(work)

    async def averify(self, prompt: str, response: str, return_search_results: bool = True) -> VerifyResult:
        """The cloud `verify` tool: `response` (the answer to `prompt`) against reliable sources."""
        return await self._call(
            "verify", {"prompt": prompt, "response": response, "returnSearchResults": return_search_results}
        )

    async def averify_document(
        self, prompt: str, response: str, document_content: str, return_search_results: bool = True
    ) -> VerifyResult:
        """The cloud `verify_document` tool: `response` against the document's text."""
        return await self._call(
            "verify_document",
            {
                "prompt": prompt,
                "response": response,
                "documentContent": document_content,
                "returnSearchResults": return_search_results,
            },
        )

    def list_tools(self) -> list[str]:
        return run_sync(self.alist_tools())

    def verify(self, prompt: str, response: str, return_search_results: bool = True) -> VerifyResult:
        return run_sync(self.averify(prompt, response, return_search_results))

    def verify_document(
        self, prompt: str, response: str, document_content: str, return_search_results: bool = True
    ) -> VerifyResult:
        return run_sync(self.averify_document(prompt, response, document_content, return_search_results))
