"""`verify_output_validator`: kluster.ai Verify as a PydanticAI output validator.

`agent.output_validator(verify_output_validator(policy))` checks every final output with
Verify. On a hallucination the policy decides: "retry" raises `ModelRetry` carrying Verify's
explanation, so pydantic-ai sends it back to the model and asks again (bounded by the
policy's `max_retries` and the agent's output retries, whichever is lower); "raise" raises
`HallucinationDetected`; "annotate" lets the output through. A Verify outage fails closed
(`KlusterVerifyError`) or passes the output marked "unverified", per `VerifyPolicy.on_error`.

Context (what the answer must be faithful to) comes from the run: a string, a callable of
the `RunContext`, the deps (`"deps"`), the tool results the agent retrieved in this run
(`"tool_results"`), or `"auto"` = deps when they carry context, else the tool results.
Without context Verify checks the answer against reliable online sources.

The outcome is stored in `result.metadata["kluster_verify"]` as `VerifyOutcome.to_metadata()`
(the same dict every adapter stores) when the agent has run metadata (`Agent(..., metadata={})`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from pydantic_ai import ModelRetry, RunContext
from pydantic_ai.messages import ModelRequest, ToolReturnPart

from kluster_agents.integrations._api.errors import KlusterVerifyError
from kluster_agents.integrations._verify.policy import METADATA_KEY as _METADATA_KEY
from kluster_agents.integrations._verify.policy import VerifyOutcome, VerifyPolicy

OutputT = TypeVar("OutputT")
ContextSource = str | Literal["auto", "deps", "tool_results"] | Callable[[RunContext[Any]], str | None] | None
METADATA_KEY = _METADATA_KEY
_DEPS_CONTEXT_ATTRS = ("context", "documents", "document")


def as_text(value: Any) -> str:
    """The text Verify sees for an output or context value (models and data as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (bytes, bytearray))
        and all(isinstance(v, str) for v in value)
    ):
        return "\n\n".join(value)
    return json.dumps(value, default=str, ensure_ascii=False)


def prompt_text(ctx: RunContext[Any]) -> str:
    """The user prompt of the run, text parts only."""
    prompt = ctx.prompt
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(part for part in prompt if isinstance(part, str))


def context_from_deps(deps: Any) -> str | None:
    """Context carried by the deps: a string, or a `context`/`documents`/`document` attribute or key."""
    if deps is None:
        return None
    if isinstance(deps, str):
        return deps or None
    for name in _DEPS_CONTEXT_ATTRS:
        value = deps.get(name) if isinstance(deps, dict) else getattr(deps, name, None)
        if value:
            return as_text(value)
    return None


def context_from_tool_results(ctx: RunContext[Any]) -> str | None:
    """What the agent's tools returned during this run (retrieved documents), joined."""
    returns = [
        as_text(part.content)
        for message in ctx.messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]
    return "\n\n".join(returns) or None


def resolve_context(source: ContextSource, ctx: RunContext[Any]) -> str | None:
    if source is None:
        return None
    if callable(source):
        return source(ctx)
    if source == "deps":
        return context_from_deps(ctx.deps)
    if source == "tool_results":
        return context_from_tool_results(ctx)
    if source == "auto":
        return context_from_deps(ctx.deps) or context_from_tool_results(ctx)
    return source


def verify_output_validator(
    policy: VerifyPolicy | None = None, *, context: ContextSource = "auto"
) -> Callable[[RunContext[Any], OutputT], Awaitable[OutputT]]:
    """An async output validator for `@agent.output_validator` that checks outputs with Verify.

    `policy` defaults to `VerifyPolicy()` (retry on a hallucination, fail closed on an outage).
    """
    policy = policy or VerifyPolicy()
    if isinstance(context, str) and not context:
        raise KlusterVerifyError("context must be non-empty text, 'auto', 'deps', 'tool_results', a callable or None.")

    async def validate(ctx: RunContext[Any], output: OutputT) -> OutputT:
        if ctx.partial_output:  # streaming: verify the final output only
            return output
        outcome = await policy.acheck(
            prompt_text(ctx), as_text(output), resolve_context(context, ctx), attempt=ctx.retry
        )
        _record(ctx, outcome)
        if outcome.action == "retry":
            raise ModelRetry(outcome.feedback or "Verify flagged the answer; answer again, supported by the sources.")
        return output

    validate.__name__ = "kluster_verify_output"
    return validate


def _record(ctx: RunContext[Any], outcome: VerifyOutcome) -> None:
    if isinstance(ctx.metadata, dict):
        ctx.metadata[METADATA_KEY] = outcome.to_metadata()
