"""The emulated model as an agent meets it over HTTP: tools chosen by relevance, several calls in
one turn, arguments that validate against their schema, `tool_choice` honoured exactly, answers
that use tool results, recorded replays only for the same tools, and Verify judging claims."""

from __future__ import annotations

import ast
import json
import operator
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations.emulator._model.replies import derived_reply
from kluster_agents.integrations.emulator._model.schema_instance import ConversationValues, instance_for_schema

from .helpers import LLAMA_8B, user


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


GET_WEATHER = _tool("get_weather", "Get the current weather for a city.", {"city": {"type": "string"}}, ["city"])
CALCULATOR = _tool(
    "calculator", "Evaluate an arithmetic expression.", {"expression": {"type": "string"}}, ["expression"]
)
TOOLS = [GET_WEATHER, CALCULATOR]
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _evaluate(expression: str) -> float:
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"not arithmetic: {ast.dump(node)}")

    return walk(ast.parse(expression, mode="eval"))


def _calls(completion: Any) -> list[tuple[str, dict[str, Any]]]:
    message = completion.choices[0].message
    return [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]


def test_arithmetic_question_calls_the_calculator_with_a_computable_expression(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=LLAMA_8B, messages=user("What is 1337 multiplied by 42?"), tools=TOOLS
    )
    [(name, args)] = _calls(completion)
    assert name == "calculator"
    assert _evaluate(args["expression"]) == 1337 * 42


def test_weather_question_calls_get_weather_with_the_city(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=LLAMA_8B, messages=user("What's the weather like in Lisbon today?"), tools=TOOLS
    )
    assert _calls(completion) == [("get_weather", {"city": "Lisbon"})]
    assert completion.choices[0].finish_reason == "tool_calls"


def test_greeting_gets_text_not_a_tool_call(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=LLAMA_8B, messages=user("Hi! Just say hello back"), tools=TOOLS)
    assert _calls(completion) == []
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content.startswith("[emulated]")


def test_two_cities_get_two_calls_unless_parallel_calls_are_off(client: openai.OpenAI) -> None:
    messages = user("What's the weather in Paris and Oslo?")
    both = client.chat.completions.create(model=LLAMA_8B, messages=messages, tools=TOOLS)
    assert _calls(both) == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]
    assert len({c.id for c in both.choices[0].message.tool_calls}) == 2
    one = client.chat.completions.create(model=LLAMA_8B, messages=messages, tools=TOOLS, parallel_tool_calls=False)
    assert _calls(one) == [("get_weather", {"city": "Paris"})]


def test_same_request_same_answer(client: openai.OpenAI) -> None:
    messages = user("Compute (17 + 25) * 3 for me")
    first, second = (client.chat.completions.create(model=LLAMA_8B, messages=messages, tools=TOOLS) for _ in range(2))
    assert _calls(first) == _calls(second) == [("calculator", {"expression": "(17+25)*3"})]


def test_tool_choice_is_honoured_exactly(client: openai.OpenAI) -> None:
    question = user("What is 1337 multiplied by 42?")
    none = client.chat.completions.create(model=LLAMA_8B, messages=question, tools=TOOLS, tool_choice="none")
    assert _calls(none) == [] and none.choices[0].message.content
    greeting = user("Hello there")
    required = client.chat.completions.create(model=LLAMA_8B, messages=greeting, tools=TOOLS, tool_choice="required")
    assert len(_calls(required)) == 1
    named = client.chat.completions.create(
        model=LLAMA_8B,
        messages=question,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert [name for name, _ in _calls(named)] == ["get_weather"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=LLAMA_8B,
            messages=question,
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "web"}},
        )
    assert caught.value.body["param"] == "tool_choice" and "web" in caught.value.body["message"]


def test_after_tool_results_the_answer_quotes_every_output(client: openai.OpenAI) -> None:
    messages: list[Any] = user("What's the weather in Paris and Oslo?")
    first = client.chat.completions.create(model=LLAMA_8B, messages=messages, tools=TOOLS)
    calls = first.choices[0].message.tool_calls
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    for call, out in zip(calls, ["18 °C, sunny", "4 °C, rain"], strict=True):
        messages.append({"role": "tool", "tool_call_id": call.id, "content": out})
    final = client.chat.completions.create(model=LLAMA_8B, messages=messages, tools=TOOLS)
    text = final.choices[0].message.content
    assert final.choices[0].finish_reason == "stop" and "18 °C, sunny" in text and "4 °C, rain" in text


def test_a_tool_chain_uses_the_first_result_in_the_next_call() -> None:
    to_f = _tool(
        "celsius_to_fahrenheit", "Convert Celsius to Fahrenheit.", {"celsius": {"type": "number"}}, ["celsius"]
    )
    info = get_model(LLAMA_8B)
    messages: list[Any] = user("What is the weather in Paris, in Fahrenheit?")
    first = derived_reply({"messages": messages, "tools": [GET_WEATHER, to_f]}, info)
    assert [(c.name, c.arguments) for c in first.tool_calls] == [("get_weather", {"city": "Paris"})]
    messages += [
        {"role": "assistant", "tool_calls": [first.tool_calls[0].to_openai() | {"id": "w1"}]},
        {"role": "tool", "tool_call_id": "w1", "content": "18 °C in Paris"},
    ]
    second = derived_reply({"messages": messages, "tools": [GET_WEATHER, to_f]}, info)
    assert [(c.name, c.arguments) for c in second.tool_calls] == [("celsius_to_fahrenheit", {"celsius": 18})]


def test_output_tool_is_called_after_tool_results_and_when_no_tool_fits() -> None:
    info = get_model(LLAMA_8B)
    final = _tool(
        "final_result",
        "The final response",
        {"city": {"type": "string"}, "temperature_c": {"type": "number", "exclusiveMinimum": -90, "maximum": 60}},
        ["city", "temperature_c"],
    )
    messages: list[Any] = [
        *user("How warm is it in Paris?"),
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "w1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "w1", "content": "21 °C and sunny"},
    ]
    reply = derived_reply({"messages": messages, "tools": [GET_WEATHER, final]}, info)
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("final_result", {"city": "Paris", "temperature_c": 21})
    ]
    direct = derived_reply({"messages": user("Tell me a joke"), "tools": [GET_WEATHER, final]}, info)
    assert [c.name for c in direct.tool_calls] == ["final_result"]
    jsonschema.validate(direct.tool_calls[0].arguments, final["function"]["parameters"])


def test_recorded_exchange_replays_only_for_the_same_tools(client: openai.OpenAI) -> None:
    """The shipped recording answers `multiply`; a request declaring `calculator` (or no tools, or
    tool_choice none) must not get that recorded call."""
    question = user("What is 1337 multiplied by 42?")
    multiply = _tool(
        "multiply", "Multiply two integers", {"a": {"type": "integer"}, "b": {"type": "integer"}}, ["a", "b"]
    )
    recorded = client.chat.completions.create(model=LLAMA_8B, messages=question, tools=[multiply])
    assert _calls(recorded) == [("multiply", {"a": 1337, "b": 42})]
    calculator = client.chat.completions.create(model=LLAMA_8B, messages=question, tools=[CALCULATOR])
    assert _calls(calculator) == [("calculator", {"expression": "1337*42"})]
    plain = client.chat.completions.create(model=LLAMA_8B, messages=question)
    assert _calls(plain) == [] and plain.choices[0].message.content
    none = client.chat.completions.create(model=LLAMA_8B, messages=question, tools=[multiply], tool_choice="none")
    assert _calls(none) == []


SCHEMAS: dict[str, dict[str, Any]] = {
    "pattern": {"type": "string", "pattern": r"^[A-Z]{3}-\d{4}$"},
    "pattern_and_length": {"type": "string", "pattern": r"^[a-z]+$", "minLength": 5, "maxLength": 8},
    "phone": {"type": "string", "pattern": r"^\+?[1-9]\d{7,14}$"},
    "multiple_of": {"type": "number", "minimum": 0.3, "multipleOf": 0.25},
    "integer_multiple_of": {"type": "integer", "exclusiveMinimum": 10, "multipleOf": 7},
    "exclusive_bounds": {"type": "number", "exclusiveMinimum": 0.5, "exclusiveMaximum": 0.9},
    "draft4_exclusive": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "integer",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 2,
    },
    "unique_items": {
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": 4},
        "minItems": 3,
        "uniqueItems": True,
    },
    "unique_enum_items": {
        "type": "array",
        "items": {"enum": ["red", "green", "blue"]},
        "minItems": 2,
        "maxItems": 2,
        "uniqueItems": True,
    },
    "enum": {"type": "string", "enum": ["low", "medium", "high"]},
    "const": {"const": "fixed"},
    "formats": {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "mail": {"type": "string", "format": "email"},
            "id": {"type": "string", "format": "uuid"},
        },
        "required": ["when", "day", "mail", "id"],
    },
    "ref_defs": {
        "$defs": {
            "Address": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "zip": {"type": "string", "pattern": r"^\d{5}$"}},
                "required": ["city", "zip"],
            }
        },
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/Address"}, "work": {"$ref": "#/$defs/Address"}},
        "required": ["home"],
        "additionalProperties": False,
    },
    "any_of": {
        "anyOf": [{"type": "integer", "minimum": 5, "maximum": 5}, {"type": "null"}],
    },
    "one_of_needs_second": {"oneOf": [{"type": "string", "maxLength": 0, "minLength": 1}, {"type": "boolean"}]},
    "nested": {
        "type": "object",
        "properties": {
            "order": {
                "type": "object",
                "properties": {
                    "items": {
                        "type": "array",
                        "minItems": 2,
                        "items": {
                            "type": "object",
                            "properties": {
                                "sku": {"type": "string", "pattern": r"^SKU\d{3}$"},
                                "qty": {"type": "integer", "minimum": 1, "maximum": 9},
                            },
                            "required": ["sku", "qty"],
                        },
                    },
                    "priority": {"enum": [1, 2, 3]},
                },
                "required": ["items", "priority"],
            }
        },
        "required": ["order"],
    },
    "pydantic_bounds": {
        "properties": {
            "score": {"exclusiveMaximum": 0.9, "exclusiveMinimum": 0.5, "title": "Score", "type": "number"},
            "tags": {"items": {"type": "string"}, "maxItems": 3, "title": "Tags", "type": "array"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["score", "tags"],
        "title": "Rated",
        "type": "object",
    },
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@pytest.mark.parametrize(
    "values",
    [
        ConversationValues(),
        ConversationValues(
            words=["Paris", "weather"], names=["Paris"], numbers=[7, 0.75, 1337, 42], quoted=["ABC-1234"]
        ),
    ],
    ids=["no-conversation", "with-conversation"],
)
def test_every_generated_value_validates(name: str, values: ConversationValues) -> None:
    schema = SCHEMAS[name]
    value = instance_for_schema(schema, values=ConversationValues(**values.__dict__))
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


def test_conversation_values_are_used_where_they_fit() -> None:
    values = ConversationValues(words=["invoice"], names=["Acme GmbH"], numbers=[1250], dates=["2025-03-31"])
    schema = {
        "type": "object",
        "properties": {
            "vendor": {"type": "string"},
            "amount_eur": {"type": "number", "exclusiveMinimum": 0},
            "due_date": {"type": "string", "format": "date"},
        },
        "required": ["vendor", "amount_eur", "due_date"],
    }
    assert instance_for_schema(schema, values=values) == {
        "vendor": "Acme GmbH",
        "amount_eur": 1250,
        "due_date": "2025-03-31",
    }


def _reliability(base_url: str, key: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{base_url}/verify/reliability", json=body, headers={"Authorization": f"Bearer {key}"})
    response.raise_for_status()
    return response.json()


def test_verify_judges_claims_against_the_context(kluster_emulator: Any) -> None:
    context = "The Eiffel Tower in Paris was completed in 1889. It is 330 metres tall."
    prompt = "When was the Eiffel Tower completed?"
    check = lambda output: _reliability(  # noqa: E731
        kluster_emulator.base_url, kluster_emulator.api_key, prompt=prompt, output=output, context=context
    )
    faithful = check("The Eiffel Tower was completed in 1889 and is 330 metres tall.")
    assert faithful["is_hallucination"] is False
    wrong_year = check("The Eiffel Tower was completed in 1887.")
    assert wrong_year["is_hallucination"] is True and "1887" in wrong_year["explanation"]
    wrong_place = check("The Eiffel Tower was completed in 1889 in Berlin.")
    assert wrong_place["is_hallucination"] is True and "Berlin" in wrong_place["explanation"]
    for result in (faithful, wrong_year, wrong_place):
        assert result["explanation"].startswith("[emulated]")


def test_verify_never_flags_an_echo_of_the_prompt(client: openai.OpenAI, kluster_emulator: Any) -> None:
    prompt = "Using the context, how tall is the tower built for the 1889 World's Fair in Paris?"
    answer = client.chat.completions.create(model=LLAMA_8B, messages=user(prompt)).choices[0].message.content
    assert prompt in answer  # the emulated model echoes the question
    for context in (None, "The Eiffel Tower is 330 metres tall."):
        body = {"prompt": prompt, "output": answer, **({"context": context} if context else {})}
        result = _reliability(kluster_emulator.base_url, kluster_emulator.api_key, **body)
        assert result["is_hallucination"] is False, result
