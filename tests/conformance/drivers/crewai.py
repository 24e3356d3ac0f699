"""CrewAI as its users write it: `kluster_llm(...)` and its `call` / `acall`, `stream=True`,
`adaptive=`, the batch route `call_for_each_batched`, a `@tool`, `response_model=`, and the
Verify guardrail on a task output."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from crewai.events import crewai_event_bus
from crewai.events.types.llm_events import LLMThinkingChunkEvent
from crewai.tasks.task_output import TaskOutput
from crewai.tools import tool

from kluster_agents.adapters.crewai import KlusterVerifyGuardrail, call_for_each_batched, kluster_llm
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode

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

FRAMEWORK = "crewai"
WEATHER = tool("get_weather")(get_weather)


def _weather_schema() -> dict[str, Any]:
    """The CrewAI tool as the dict `LLM.call(tools=...)` takes (what an agent's executor passes)."""
    return {
        "name": WEATHER.name,
        "description": WEATHER.description,
        "parameters": WEATHER.args_schema.model_json_schema(),
    }


def _request(cell: Cell) -> tuple[Any, dict[str, Any]]:
    """The `call` arguments: messages, and keyword arguments (tools, response_model)."""
    if cell.capability == "tools":
        return TOOL_PROMPT, {"tools": [_weather_schema()]}  # no available_functions: the calls come back
    if cell.capability == "structured":
        return STRUCTURED_PROMPT, {"response_model": Person}
    if cell.capability == "json_mode":
        return JSON_PROMPT, {}
    if cell.capability == "vision":
        return [{"role": "user", "content": vision_content()}], {}
    return TEXT_PROMPT, {}


def _llm(cell: Cell) -> Any:
    params: dict[str, Any] = {}
    if cell.mode == "stream":
        params["stream"] = True
    if cell.mode == "adaptive":
        params["adaptive"] = AdaptiveMode(completion_window="1h")
    if cell.capability == "json_mode":
        params["response_format"] = {"type": "json_object"}
    return kluster_llm(cell.model, **params)


def _answer(cell: Cell, llm: Any, messages: Any, kwargs: dict[str, Any]) -> tuple[Any, str | None]:
    """The answer in the cell's mode, and the reasoning as CrewAI exposes it (`last_reasoning`,
    or the thinking events for the batch route, whose LLM copies answer each line)."""
    if cell.mode == "async":
        return asyncio.run(llm.acall(messages, **kwargs)), llm.last_reasoning
    if cell.mode == "batch":
        thinking: list[str] = []
        with crewai_event_bus.scoped_handlers():

            @crewai_event_bus.on(LLMThinkingChunkEvent)
            def _thinking(source: Any, event: LLMThinkingChunkEvent) -> None:
                thinking.append(event.chunk)

            (answer,) = call_for_each_batched(llm, [messages], **kwargs)
            crewai_event_bus.flush()
        return answer, "".join(thinking) or None
    return llm.call(messages, **kwargs), llm.last_reasoning  # realtime, stream, adaptive


def _tool_calls(answer: Any) -> list[tuple[str, dict[str, Any]]]:
    """`call`'s tool calls: SDK objects, or dicts from a stream."""
    calls = []
    for call in answer if isinstance(answer, list) else []:
        function = call["function"] if isinstance(call, dict) else call.function
        name, arguments = (
            (function["name"], function["arguments"])
            if isinstance(function, dict)
            else (function.name, function.arguments)
        )
        calls.append((name, json.loads(arguments or "{}")))
    return calls


def run(cell: Cell) -> Outcome:
    llm = _llm(cell)
    messages, kwargs = _request(cell)
    answer, reasoning = _answer(cell, llm, messages, kwargs)
    if cell.capability == "tools":
        return Outcome(tool_calls=_tool_calls(answer), content=answer if isinstance(answer, str) else "")
    if cell.capability == "structured":
        return Outcome(content=answer.model_dump_json(), parsed=answer)
    outcome = Outcome(content=answer, reasoning=reasoning)
    if cell.capability == "json_mode":
        outcome.parsed = json.loads(answer)
    elif cell.capability == "verify":
        guardrail = KlusterVerifyGuardrail()
        guardrail(TaskOutput(description=TEXT_PROMPT, raw=answer, agent="Answerer"))
        outcome.verdict = guardrail.outcomes[-1]
    return outcome
