"""LangChain as its users write it: `ChatKluster` invoke / stream / ainvoke, `batch=True` for the Batch
API, `adaptive=True`, `bind_tools`, `with_structured_output`, JSON mode through `response_format`,
and the `with_verification` wrapper."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable

from kluster_agents.adapters.langchain import ChatKluster, with_verification
from kluster_agents.integrations import VerifyOutcome, VerifyPolicy

from .._matrix import (
    JSON_PROMPT,
    STRUCTURED_PROMPT,
    TEXT_PROMPT,
    TOOL_PROMPT,
    Cell,
    Outcome,
    Person,
    get_weather,
    vision_content,
)

FRAMEWORK = "langchain"


def _runnable(cell: Cell) -> tuple[Runnable, Any]:
    """The runnable a LangChain user builds for the cell's capability, and its input."""
    llm = ChatKluster(model=cell.model, batch=cell.mode == "batch", adaptive=cell.mode == "adaptive")
    kind = cell.capability
    if kind == "tools":
        return llm.bind_tools([get_weather]), TOOL_PROMPT
    if kind == "structured":
        return llm.with_structured_output(Person), STRUCTURED_PROMPT
    if kind == "json_mode":
        return llm.bind(response_format={"type": "json_object"}), JSON_PROMPT
    if kind == "vision":
        return llm, [HumanMessage(content=vision_content())]
    if kind == "verify":
        return with_verification(llm, VerifyPolicy(on_hallucination="annotate")), TEXT_PROMPT
    return llm, TEXT_PROMPT


def _streamed(runnable: Runnable, input_: Any) -> Any:
    """Message chunks added up as LangChain adds them; other outputs (parsed objects): the last one."""
    whole: Any = None
    for chunk in runnable.stream(input_):
        whole = chunk if whole is None or not isinstance(chunk, BaseMessage) else whole + chunk
    return whole


def _output(cell: Cell, runnable: Runnable, input_: Any) -> Any:
    if cell.mode == "stream":
        return _streamed(runnable, input_)
    if cell.mode == "async":
        return asyncio.run(runnable.ainvoke(input_))
    if cell.mode == "batch":
        return runnable.batch([input_])[0]
    return runnable.invoke(input_)  # realtime, adaptive


def run(cell: Cell) -> Outcome:
    runnable, input_ = _runnable(cell)
    output = _output(cell, runnable, input_)
    if cell.capability == "structured":
        return Outcome(parsed=output)
    assert isinstance(output, AIMessage), f"{cell}: {output!r}"
    reasoning = output.additional_kwargs.get("reasoning_content")
    outcome = Outcome(content=output.text, reasoning=reasoning)
    if cell.capability == "tools":
        outcome.tool_calls = [(call["name"], call["args"]) for call in output.tool_calls]
    elif cell.capability == "json_mode":
        outcome.parsed = json.loads(output.text)
    elif cell.capability == "verify":
        verdict = output.response_metadata.get("kluster_verify")
        outcome.verdict = VerifyOutcome.from_metadata(verdict) if verdict is not None else None
    return outcome
