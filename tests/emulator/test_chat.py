"""Chat completions through the plain openai SDK: replies, streaming, tools, scripts, request log."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from kluster_agents.integrations.emulator import ToolCall

from .helpers import LLAMA_8B, NO_TOOLS_MODEL, WEATHER_TOOL, user


def test_deterministic_reply_has_kluster_shape(client: openai.OpenAI, kluster_emulator) -> None:
    raw = client.chat.completions.with_raw_response.create(model=LLAMA_8B, messages=user("Capital of Argentina?"))
    assert raw.headers["x-kluster-emulator"] == "true"
    completion = raw.parse()
    body = json.loads(raw.content)
    assert completion.choices[0].message.content == "[emulated] reply to: Capital of Argentina?"
    assert completion.id.startswith("chat-")
    assert "system_fingerprint" not in body
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert body["choices"][0]["stop_reason"] is None
    assert body["kluster_emulated"] is True
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_same_request_same_reply(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model=LLAMA_8B, messages=user("hello"))
    second = client.chat.completions.create(model=LLAMA_8B, messages=user("hello"))
    assert first.choices[0].message.content == second.choices[0].message.content


def test_streaming_sends_chunks_and_done(client: openai.OpenAI, kluster_emulator) -> None:
    chunks = list(client.chat.completions.create(model=LLAMA_8B, messages=user("stream me please"), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "[emulated] reply to: stream me please"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    with httpx.Client() as http:
        raw = http.post(
            f"{kluster_emulator.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {kluster_emulator.api_key}"},
            json={"model": LLAMA_8B, "messages": user("x"), "stream": True},
        )
    assert raw.text.rstrip().endswith("data: [DONE]")
    assert raw.headers["content-type"].startswith("text/event-stream")


async def test_async_client_and_async_stream(aclient: openai.AsyncOpenAI) -> None:
    completion = await aclient.chat.completions.create(model=LLAMA_8B, messages=user("async hello"))
    assert completion.choices[0].message.content == "[emulated] reply to: async hello"
    stream = await aclient.chat.completions.create(model=LLAMA_8B, messages=user("async stream"), stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "[emulated] reply to: async stream"


def test_tool_call_satisfies_schema_then_answer_quotes_tool_result(client: openai.OpenAI) -> None:
    messages = user("What is the weather in Paris?")
    first = client.chat.completions.create(model=LLAMA_8B, messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    args = json.loads(call.function.arguments)
    assert call.function.name == "get_weather"
    assert args["unit"] == "celsius" and isinstance(args["city"], str) and 1 <= args["days"] <= 7
    assert args["city"] in {"weather", "Paris"} or args["city"]
    messages += [choice.message.model_dump(), {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"}]
    second = client.chat.completions.create(model=LLAMA_8B, messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert "18C and sunny" in second.choices[0].message.content


def test_tool_choice_names_the_tool(client: openai.OpenAI) -> None:
    other = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    completion = client.chat.completions.create(
        model=LLAMA_8B,
        messages=user("hi"),
        tools=[other, WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_streamed_tool_call(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=LLAMA_8B, messages=user("Weather in Paris?"), tools=[WEATHER_TOOL], stream=True
        )
    )
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_prompted_json_conforms_to_schema(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "age"],
    }
    prompt = f"Extract the person. Answer with JSON matching this schema: {json.dumps(schema)}\nText: Alice is 30."
    completion = client.chat.completions.create(model=NO_TOOLS_MODEL, messages=user(prompt))
    value = json.loads(completion.choices[0].message.content)
    assert isinstance(value["name"], str) and isinstance(value["age"], int) and isinstance(value["tags"], list)


def test_scripted_replies_are_fifo_and_per_model(client: openai.OpenAI, controls) -> None:
    controls.script("first", "second")
    controls.script("only for gemma", model=NO_TOOLS_MODEL)
    controls.script(ToolCall("get_weather", {"city": "Oslo", "unit": "celsius"}))
    texts = [
        client.chat.completions.create(model=m, messages=user("q")).choices[0].message.content
        for m in (NO_TOOLS_MODEL, LLAMA_8B, LLAMA_8B)
    ]
    assert texts == ["only for gemma", "first", "second"]
    call = client.chat.completions.create(model=LLAMA_8B, messages=user("q")).choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Oslo", "unit": "celsius"}
    assert (
        client.chat.completions.create(model=LLAMA_8B, messages=user("q"))
        .choices[0]
        .message.content.startswith("[emulated]")
    )


def test_max_completion_tokens_truncates_with_length(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=LLAMA_8B, messages=user("a long question " * 20), max_completion_tokens=3
    )
    assert completion.choices[0].finish_reason == "length"
    assert len(completion.choices[0].message.content) <= 12


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert LLAMA_8B in ids and "klusterai/verify-reliability" in ids
    assert client.models.retrieve("google/gemma-3-27b-it").owned_by == "google"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no/such-model")


def test_request_log_counts_calls_without_secrets(client: openai.OpenAI, kluster_emulator) -> None:
    client.chat.completions.create(model=LLAMA_8B, messages=user("one"))
    client.chat.completions.create(model=LLAMA_8B, messages=user("two"))
    client.models.list()
    controls = kluster_emulator.controls
    assert controls.count("/chat/completions") == 2
    assert controls.count("/v1/models", method="GET") == 1
    record = controls.requests[0]
    assert record.method == "POST" and record.body["messages"] == user("one") and record.status == 200
    assert kluster_emulator.api_key not in repr(controls.requests) + repr(kluster_emulator)
