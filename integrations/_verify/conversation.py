"""`verify_conversation`'s two routes, as data: the documented chat request (model
`klusterai/verify-reliability` with the conversation) and the verdict JSON read back from its answer,
or the conversation flattened into the reliability endpoint's (prompt, output) pair."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kluster_agents.integrations._api.catalog import VERIFY_MODEL
from kluster_agents.integrations._api.compat import prepare_chat_request
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError, KlusterVerifyError, redact
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._verify.chunking import RESERVED_TOKENS, estimate_tokens


def chat_request(messages: Sequence[Mapping[str, Any]], settings: KlusterSettings, limit: int | None) -> dict[str, Any]:
    """The documented chat form of a check (model `klusterai/verify-reliability`, the conversation as is),
    refused before any network call when it is not a conversation ending in an answer, or too long."""
    if isinstance(messages, str | bytes) or not all(isinstance(m, Mapping) for m in messages):
        raise KlusterInvalidRequestError(
            "verify_conversation takes a list of message dicts, e.g. [{'role': 'user', 'content': 'Who?'}, "
            "{'role': 'assistant', 'content': 'Ada.'}]; to check one answer use verify(prompt, output).",
            parameter="messages",
        )
    if not messages or not any(m.get("role") == "assistant" for m in messages):
        raise KlusterInvalidRequestError(
            "verify_conversation needs the conversation including the assistant answer to check "
            "(a message with role 'assistant').",
            parameter="messages",
        )
    text = "".join(str(m.get("content") or "") for m in messages)
    if limit is not None and estimate_tokens(text) + RESERVED_TOKENS > limit:
        raise KlusterInvalidRequestError(
            f"the conversation is ~{estimate_tokens(text)} tokens, above {VERIFY_MODEL}'s {limit}-token context "
            f"on the {settings.tier.value} tier; verify the last turn with verify(prompt, output, context).",
            parameter="messages",
        )
    return prepare_chat_request({"model": VERIFY_MODEL, "messages": list(messages)}, settings=settings)


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_chat_verdict(content: str | None) -> dict[str, Any]:
    """Extract the verdict object from a `klusterai/verify-reliability` chat answer
    (plain JSON, or JSON inside a code fence / surrounding text)."""
    match = _JSON_OBJECT.search(content or "")
    if match:
        try:
            parsed = json.loads(match.group(0))
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise KlusterVerifyError(
        f"The {VERIFY_MODEL} chat answer carries no JSON verdict (content starts {redact(content or '')[:120]!r}); "
        "use verify() on /v1/verify/reliability instead, or retry."
    )


def flatten_conversation(messages: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(prompt, output) for `/v1/verify/reliability` from a conversation: the output is the last
    assistant message, the prompt the transcript before it ("System: ...", "User: ...", ...)."""
    last = max(i for i, m in enumerate(messages) if m.get("role") == "assistant")
    turns = [
        f"{str(m.get('role', 'user')).capitalize()}: {_text(m.get('content'))}"
        for m in messages[:last]
        if _text(m.get("content"))
    ]
    return "\n\n".join(turns), _text(messages[last].get("content"))


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content or "")
