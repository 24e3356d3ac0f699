"""LiteLLM as its users write it: `litellm.completion("kluster/<model>", ...)`, `stream=True` with
`stream_chunk_builder`, `acompletion`, the adapter's Batch API route, `adaptive=True`, and the
Verify guardrail (the SDK hook on `acompletion`, its stream wrapper and sync check elsewhere)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import litellm

from kluster_agents.adapters.litellm import (
    KlusterVerifyGuardrail,
    batch_completion_via_api,
    register,
    verify_outcome,
)

from .._matrix import (
    WEATHER_TOOL,
    Cell,
    Outcome,
    Person,
    user_content,
)

FRAMEWORK = "litellm"


def _request(cell: Cell) -> dict[str, Any]:
    user = user_content(cell.capability)
    request: dict[str, Any] = {"model": f"kluster/{cell.model}", "messages": [{"role": "user", "content": user}]}
    if cell.capability == "tools":
        request["tools"] = [WEATHER_TOOL]
    elif cell.capability == "structured":
        request["response_format"] = Person
    elif cell.capability == "json_mode":
        request["response_format"] = {"type": "json_object"}
    return request


def _complete(cell: Cell, request: dict[str, Any], guardrail: KlusterVerifyGuardrail | None) -> Any:
    """One answer in the cell's mode, as a LiteLLM `ModelResponse` (streams rebuilt from their chunks)."""
    messages = request["messages"]
    if cell.mode == "async":

        async def call() -> Any:
            callbacks = litellm.callbacks
            litellm.callbacks = [guardrail] if guardrail else []  # the guardrail's SDK hook runs here
            try:
                return await litellm.acompletion(**request)
            finally:
                litellm.callbacks = callbacks

        return asyncio.run(call())
    if cell.mode == "stream":
        stream: Any = litellm.completion(**request, stream=True)
        if guardrail is not None:
            stream = guardrail.verify_stream(stream, messages)
        chunks = list(stream)
        response = litellm.stream_chunk_builder(chunks, messages=messages)
        if guardrail is not None:
            response._hidden_params.update(stream._hidden_params)  # the verdict, delivered at the stream's end
        return response
    if cell.mode == "batch":
        (response,) = batch_completion_via_api([request])
    elif cell.mode == "adaptive":
        response = litellm.completion(**request, adaptive=True)
    else:
        response = litellm.completion(**request)
    return guardrail.verify_completion(request, response) if guardrail else response


def run(cell: Cell) -> Outcome:
    register()
    request = _request(cell)
    guardrail = KlusterVerifyGuardrail(on_hallucination="annotate") if cell.capability == "verify" else None
    response = _complete(cell, request, guardrail)
    message = response.choices[0].message
    outcome = Outcome(content=message.content or "", reasoning=getattr(message, "reasoning_content", None))
    if cell.capability == "tools":
        outcome.tool_calls = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
    elif cell.capability == "structured":
        outcome.parsed = Person.model_validate_json(outcome.content)
    elif cell.capability == "json_mode":
        outcome.parsed = json.loads(outcome.content)
    elif cell.capability == "verify":
        outcome.verdict = verify_outcome(response)
    return outcome
