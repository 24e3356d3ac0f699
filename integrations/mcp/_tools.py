"""The kluster Verify MCP tools — `verify` and `verify_document`, with exactly the cloud's names,
arguments and response format (docs: "MCP tools reference") — as a reusable FastMCP builder.

The emulator mounts it with its heuristic verifier; `kluster-agents mcp serve` can mount it with
the real Verify API. The verifier is any async callable
`(prompt, output, context | None, return_search_results) -> /v1/verify/reliability response dict`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kluster_agents.integrations._api.extras import require

require("mcp", "mcp")

from mcp.server.fastmcp import FastMCP

VerifyFunction = Callable[[str, str, "str | None", bool], Awaitable[Mapping[str, Any]]]
MCP_PATH = "/v1/mcp"


def tool_result(prompt: str, response: str, verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The MCP tools' response: the Verify answer with the prompt and response, and the token
    usage under `confidence` (as the tools reference documents it)."""
    return {
        "prompt": prompt,
        "response": response,
        "is_hallucination": bool(verdict.get("is_hallucination")),
        "explanation": str(verdict.get("explanation", "")),
        "confidence": dict(verdict.get("usage") or {}),
        "search_results": list(verdict.get("search_results") or []),
        **({"kluster_emulated": True} if verdict.get("kluster_emulated") else {}),
    }


def build_verify_mcp_server(
    verify: VerifyFunction, *, name: str = "kluster-verify", path: str = MCP_PATH, host: str = "127.0.0.1"
) -> FastMCP:
    """A FastMCP server with the `verify` and `verify_document` tools, served over streamable HTTP
    at `path` (stateless, so any number of clients can call it)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    server = FastMCP(
        name,
        host=host,
        streamable_http_path=path,
        stateless_http=True,
        log_level="WARNING",
        instructions="Reliability checks by kluster.ai Verify: `verify` for general claims, "
        "`verify_document` for answers about a document.",
    )
    # FastMCP calls logging.basicConfig() with a rich handler; a library must not reconfigure the host's logging.
    root.handlers[:] = handlers
    root.setLevel(level)

    @server.tool(
        name="verify",
        description="Verify a prompt and response pair against reliable sources "
        "(general statements, trivia, current events, news).",
    )
    async def verify_tool(prompt: str, response: str, returnSearchResults: bool = True) -> dict[str, Any]:
        return tool_result(prompt, response, await verify(prompt, response, None, returnSearchResults))

    @server.tool(
        name="verify_document",
        description="Verify that a response about a document accurately reflects "
        "the document content (quotes, data extraction, RAG hallucination checking).",
    )
    async def verify_document_tool(
        prompt: str,
        response: str,
        documentContent: str,
        returnSearchResults: bool = True,
    ) -> dict[str, Any]:
        return tool_result(prompt, response, await verify(prompt, response, documentContent, returnSearchResults))

    return server
