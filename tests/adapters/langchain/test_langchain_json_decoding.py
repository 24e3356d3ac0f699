"""ChatKluster reads chat completions as the JSON the service sent (`KlusterJSONCompletions`) instead of
openai models LangChain would dump back to dicts: what a user gets must not change. Each case runs the
same calls through ChatKluster and through a copy of it on the model-decoding resource (what ChatOpenAI
uses), against the emulator, for every catalog chat model, and compares the messages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations._api.catalog import chat_models
from kluster_agents.integrations._api.errors import KlusterResponseError
from kluster_agents.integrations._api.kluster_openai import KlusterCompletions
from kluster_agents.integrations._api.settings import KlusterSettings

MODELS = [m.id for m in chat_models(include_registered=False)]
PROMPT = [HumanMessage("What is the capital of Argentina? Think it through.")]


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"Sunny in {city}"


def _pair(emulator: Any, model: str, **kwargs: Any) -> tuple[ChatKluster, ChatKluster]:
    """(ChatKluster, the same model on the model-decoding resources)."""
    llm = ChatKluster(api_key=emulator.api_key, base_url=emulator.base_url, model=model, temperature=0, **kwargs)
    decoded = llm.model_copy(
        update={"client": llm.root_client.chat.completions, "async_client": llm.root_async_client.chat.completions}
    )
    assert type(decoded.client) is KlusterCompletions and llm.client is not decoded.client
    return llm, decoded


def _seen(message: BaseMessage) -> Any:
    """What a user reads of `message`, but for ids (the completion's, its tool calls' and the message's
    differ per response by nature); a field the JSON leaves out reads as the None an openai model has
    (`token_usage["prompt_tokens_details"]`, `refusal`)."""
    return _comparable(message.model_dump())


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if v is not None and k != "id"}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _streamed(llm: Any, *args: Any) -> BaseMessage:
    final = None
    for chunk in llm.stream(*args):
        final = chunk if final is None else final + chunk
    assert final is not None
    return final


@pytest.mark.parametrize("model", MODELS)
def test_invoke_and_stream_give_the_same_messages(kluster_emulator: Any, model: str) -> None:
    llm, decoded = _pair(kluster_emulator, model, max_tokens=200)
    reply = llm.invoke(PROMPT)
    assert isinstance(reply, AIMessage) and reply.text and reply.usage_metadata
    assert _seen(reply) == _seen(decoded.invoke(PROMPT))
    streamed = _streamed(llm, PROMPT)
    assert streamed.text == reply.text and streamed.usage_metadata == reply.usage_metadata
    assert _seen(streamed) == _seen(_streamed(decoded, PROMPT))


@pytest.mark.parametrize("model", [m.id for m in chat_models(include_registered=False) if m.tools])
def test_tool_calls_are_the_same(kluster_emulator: Any, model: str) -> None:
    llm, decoded = _pair(kluster_emulator, model)
    prompt = [HumanMessage("What is the weather in Paris?")]
    reply = llm.bind_tools([get_weather]).invoke(prompt)
    assert reply.tool_calls and reply.tool_calls[0]["name"] == "get_weather"
    assert _seen(reply) == _seen(decoded.bind_tools([get_weather]).invoke(prompt))
    streamed = _streamed(llm.bind_tools([get_weather]), prompt)
    assert [c["args"] for c in streamed.tool_calls] == [c["args"] for c in reply.tool_calls]
    assert _seen(streamed) == _seen(_streamed(decoded.bind_tools([get_weather]), prompt))


async def test_async_calls_give_the_same_messages(kluster_emulator: Any) -> None:
    llm, decoded = _pair(kluster_emulator, "deepseek-ai/DeepSeek-R1-0528")
    reply = await llm.ainvoke(PROMPT)
    assert reply.additional_kwargs.get("reasoning_content")  # the reasoning split out, as on the sync path
    assert _seen(reply) == _seen(await decoded.ainvoke(PROMPT))
    chunks = [chunk async for chunk in llm.astream(PROMPT)]
    decoded_chunks = [chunk async for chunk in decoded.astream(PROMPT)]
    assert [_seen(c) for c in chunks] == [_seen(c) for c in decoded_chunks]


def test_an_estimated_stream_usage_is_the_same(kluster_emulator: Any) -> None:
    """A stream the client counts itself ends with a JSON usage chunk flagged as estimated."""
    settings = KlusterSettings(
        api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url, stream_usage="estimate"
    )
    llm, decoded = _pair(kluster_emulator, MODELS[0], settings=settings)
    streamed = _streamed(llm, PROMPT)
    assert streamed.response_metadata["usage_estimated"] is True and streamed.usage_metadata
    assert _seen(streamed) == _seen(_streamed(decoded, PROMPT))


async def test_an_answer_without_choices_is_a_typed_error() -> None:
    """Not LangChain's KeyError("Response missing 'choices' key"): the client checks the JSON first."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "c", "object": "chat.completion", "created": 1, "model": MODELS[0]})

    transport = httpx.MockTransport(answer)
    llm = ChatKluster(
        api_key="k",
        base_url="https://kluster.example/v1",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
        http_async_client=httpx.AsyncClient(transport=transport),
    )
    with pytest.raises(KlusterResponseError, match="no `choices` list"):
        llm.invoke(PROMPT)
    with pytest.raises(KlusterResponseError, match="no `choices` list"):
        await llm.ainvoke(PROMPT)
