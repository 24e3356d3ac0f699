"""Unscripted on the emulator: a plain LiteLLM tool loop (call, run the tool, answer) completes."""

from __future__ import annotations

import json

import litellm

from .conftest import LLAMA

CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _run_tool(name: str, arguments: dict) -> str:
    if name == "calculator":
        left, right = arguments["expression"].split("*")
        return str(int(left) * int(right))
    return f"sunny in {arguments['city']}"


def test_tool_loop_completes(emulator) -> None:
    messages: list = [{"role": "user", "content": "What is 1337 times 42?"}]
    for _turn in range(4):
        response = litellm.completion(model=f"kluster/{LLAMA}", messages=messages, tools=[WEATHER, CALCULATOR])
        message = response.choices[0].message
        if not message.tool_calls:
            break
        messages.append(message.model_dump())
        for call in message.tool_calls:
            output = _run_tool(call.function.name, json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
    tool_names = [c["function"]["name"] for m in messages if m.get("tool_calls") for c in m["tool_calls"]]
    assert tool_names == ["calculator"]
    assert "56154" in message.content and response.choices[0].finish_reason == "stop"
