"""`kluster_llm` options a CrewAI user reaches for: adaptive inference, JSON mode, CrewAI's
`interceptor=`, tool `strict` and `tool_choice`, and reasoning models' streams."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from crewai.events import crewai_event_bus
from crewai.events.types.llm_events import LLMStreamChunkEvent, LLMThinkingChunkEvent
from crewai.llms.hooks.base import BaseInterceptor

from kluster_agents.integrations._api.errors import KlusterUnsupportedError
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode
from kluster_agents.integrations.emulator import ToolCall

PLACEHOLDER = "queued for adaptive inference"
REASONING_MODEL = "deepseek-ai/DeepSeek-R1-0528"

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


# -- adaptive inference ------------------------------------------------------------------------


@pytest.mark.kluster_emulator(timing="instant")
@pytest.mark.parametrize("adaptive", [True, AdaptiveMode(completion_window="1h"), {"completion_window": "1h"}])
def test_adaptive_call_returns_the_real_answer_not_the_placeholder(
    make_llm: Any, kluster_emulator: Any, chat_bodies: Any, adaptive: Any
) -> None:
    kluster_emulator.controls.script("the real answer")
    answer = make_llm(adaptive=adaptive).call("Say hello")
    assert answer == "the real answer"
    (body,) = chat_bodies()
    assert body["metadata"]["@kluster.ai"]["async"] is True
    assert body["metadata"]["@kluster.ai"]["completion_window"] == ("24h" if adaptive is True else "1h")


@pytest.mark.kluster_emulator(timing="instant")
def test_adaptive_keeps_the_users_metadata_and_works_in_acall(make_llm: Any, chat_bodies: Any) -> None:
    answer = asyncio.run(make_llm(adaptive=True, metadata={"team": "research"}).acall("Say hello"))
    assert answer.startswith("[emulated]") and PLACEHOLDER not in answer
    (body,) = chat_bodies()
    assert body["metadata"]["team"] == "research" and body["metadata"]["@kluster.ai"]["async"] is True


@pytest.mark.kluster_emulator(timing="instant")
def test_a_crew_on_an_adaptive_llm_finishes_with_real_content(make_llm: Any, crew_of: Any) -> None:
    result = crew_of(make_llm(adaptive=True)).kickoff(inputs={"topic": "tea"})
    assert result.raw and PLACEHOLDER not in result.raw


def test_adaptive_with_stream_is_refused_before_the_network(make_llm: Any, chat_bodies: Any) -> None:
    with pytest.raises(KlusterUnsupportedError, match="adaptive") as refused:
        make_llm(adaptive=True, stream=True)
    assert refused.value.model == "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
    assert chat_bodies() == []


# -- JSON mode ---------------------------------------------------------------------------------


def test_json_mode_is_accepted_and_sent(make_llm: Any, chat_bodies: Any) -> None:
    llm = make_llm(response_format={"type": "json_object"})
    answer = llm.call("Give me a JSON object with a name and an age.")
    assert isinstance(json.loads(answer), dict)
    assert chat_bodies()[0]["response_format"] == {"type": "json_object"}


# -- interceptor, strict, tool_choice -----------------------------------------------------------


class _Recorder(BaseInterceptor[httpx.Request, httpx.Response]):
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.statuses: list[int] = []

    def on_outbound(self, message: httpx.Request) -> httpx.Request:
        self.requests.append(f"{message.method} {message.url.path}")
        return message

    def on_inbound(self, message: httpx.Response) -> httpx.Response:
        self.statuses.append(message.status_code)
        return message

    async def aon_outbound(self, message: httpx.Request) -> httpx.Request:
        return self.on_outbound(message)

    async def aon_inbound(self, message: httpx.Response) -> httpx.Response:
        return self.on_inbound(message)


@pytest.mark.parametrize("mode", ["call", "stream", "acall"])
def test_interceptor_sees_every_request_and_response(make_llm: Any, kluster_emulator: Any, mode: str) -> None:
    recorder = _Recorder()
    llm = make_llm(interceptor=recorder, stream=mode == "stream")
    answer = asyncio.run(llm.acall("Say hello")) if mode == "acall" else llm.call("Say hello")
    assert answer.startswith("[emulated]")
    sent = [r for r in kluster_emulator.controls.requests if r.path.endswith("/chat/completions")]
    assert len(recorder.requests) == len(sent) >= 1
    assert all(path.endswith("/chat/completions") for path in recorder.requests)
    assert recorder.statuses == [r.status for r in sent]  # a stream's stream_options probe is a 400, then retried


def test_tool_strict_and_tool_choice_are_sent_as_given(make_llm: Any, chat_bodies: Any, kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(ToolCall("get_weather", {"city": "Paris"}))
    calls = make_llm(tool_choice="required").call("Weather in Paris?", tools=[WEATHER_TOOL])
    assert calls[0].function.name == "get_weather"  # returned, not run: no available_functions
    (body,) = chat_bodies()
    assert body["tools"][0]["function"]["strict"] is True  # as CrewAI builds it
    assert body["tool_choice"] == "required"  # the user's, not CrewAI's "auto"


def test_tool_choice_waits_for_a_call_with_tools(make_llm: Any, chat_bodies: Any) -> None:
    make_llm(tool_choice="required").call("Say hello")
    assert "tool_choice" not in chat_bodies()[0]


# -- reasoning models' streams ------------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_streamed_reasoning_goes_to_thinking_events_not_content(make_llm: Any, use_async: bool) -> None:
    content: list[str] = []
    thinking: list[str] = []
    with crewai_event_bus.scoped_handlers():

        @crewai_event_bus.on(LLMStreamChunkEvent)
        def _content(source: Any, event: LLMStreamChunkEvent) -> None:
            content.append(event.chunk)

        @crewai_event_bus.on(LLMThinkingChunkEvent)
        def _thinking(source: Any, event: LLMThinkingChunkEvent) -> None:
            thinking.append(event.chunk)

        llm = make_llm(REASONING_MODEL, stream=True)
        answer = asyncio.run(llm.acall("What is 2+2?")) if use_async else llm.call("What is 2+2?")
        crewai_event_bus.flush()

    assert "<think>" not in answer and answer.startswith("[emulated]")
    assert content and not any("<think>" in c or "</think>" in c for c in content)
    # CrewAI's bus runs sync handlers on a thread pool: chunks arrive complete but, under load, not in order
    assert sorted("".join(content).split()) == sorted(answer.split())
    assert thinking and sorted("".join(thinking).split()) == sorted(llm.last_reasoning.split())
    assert "<think>" not in llm.last_reasoning


def test_a_whole_answers_reasoning_is_one_thinking_event(make_llm: Any) -> None:
    thinking: list[str] = []
    with crewai_event_bus.scoped_handlers():

        @crewai_event_bus.on(LLMThinkingChunkEvent)
        def _thinking(source: Any, event: LLMThinkingChunkEvent) -> None:
            thinking.append(event.chunk)

        llm = make_llm(REASONING_MODEL)
        answer = llm.call("What is 2+2?")
        crewai_event_bus.flush()
    assert "<think>" not in answer
    assert thinking == [llm.last_reasoning] and llm.last_reasoning
