"""Structured output without `response_format`: tool calling on tool models, prompted JSON with
validation and bounded retry elsewhere; plus the shared helper `integrations.structured`."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from kluster_agents.adapters.langchain import ChatKluster, KlusterStructuredOutputError
from kluster_agents.integrations._api.structured import (
    extract_json,
    json_schema_of,
    parse_structured,
    retry_feedback,
    schema_instructions,
)

TOOL_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
TEXT_MODEL = "mistralai/Mistral-Nemo-Instruct-2407"


class Person(BaseModel):
    """A person."""

    name: str = Field(description="Full name")
    age: int


class PersonDict(TypedDict):
    name: str
    age: int


PERSON_SCHEMA = Person.model_json_schema()


def chat(emulator: Any, model: str, **kwargs: Any) -> ChatKluster:
    return ChatKluster(api_key=emulator.api_key, base_url=emulator.base_url, model=model, **kwargs)


def chat_bodies(emulator: Any) -> list[dict[str, Any]]:
    return [r.body for r in emulator.controls.requests if r.path.endswith("/chat/completions")]


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_tool_model_uses_a_forced_tool_call(kluster_emulator: Any, method: str) -> None:
    person = chat(kluster_emulator, TOOL_MODEL).with_structured_output(Person, method=method).invoke("Ada, 36")
    assert isinstance(person, Person)
    [body] = chat_bodies(kluster_emulator)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert "response_format" not in body


@pytest.mark.parametrize("schema", [Person, PersonDict, PERSON_SCHEMA], ids=["pydantic", "typeddict", "json_schema"])
def test_text_model_uses_prompted_json(kluster_emulator: Any, schema: Any) -> None:
    result = chat(kluster_emulator, TEXT_MODEL).with_structured_output(schema).invoke("Ada Lovelace, 36")
    if schema is Person:
        assert isinstance(result, Person)
    else:
        assert set(result) == {"name", "age"} and isinstance(result["age"], int)
    [body] = chat_bodies(kluster_emulator)
    assert "tools" not in body and "response_format" not in body
    system = body["messages"][0]
    assert system["role"] == "system" and '"properties"' in system["content"]


def test_prompted_json_merges_into_an_existing_system_message(kluster_emulator: Any) -> None:
    chat(kluster_emulator, TEXT_MODEL).with_structured_output(Person).invoke(
        [("system", "You extract people."), ("human", "Ada, 36")]
    )
    [body] = chat_bodies(kluster_emulator)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"].startswith("You extract people.\n\n")


def test_prompted_json_retries_with_feedback(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(
        "Sure! Ada is 36.", '```json\n{"name": "Ada", "age": "old"}\n```', 'Here it is: {"name": "Ada", "age": 36}'
    )
    person = chat(kluster_emulator, TEXT_MODEL).with_structured_output(Person).invoke("Ada, 36")
    assert person == Person(name="Ada", age=36)
    bodies = chat_bodies(kluster_emulator)
    assert len(bodies) == 3
    feedback = bodies[1]["messages"][-1]
    assert feedback["role"] == "user" and "no JSON object" in feedback["content"]
    assert "age" in bodies[2]["messages"][-1]["content"]  # the validation problem is named


def test_prompted_json_gives_up_after_the_retry_budget(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script("no json", "still none")
    llm = chat(kluster_emulator, TEXT_MODEL, structured_output_retries=1)
    with pytest.raises(KlusterStructuredOutputError, match="no JSON object"):
        llm.with_structured_output(Person).invoke("Ada")
    assert len(chat_bodies(kluster_emulator)) == 2


def test_include_raw_reports_the_parsing_error(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script("nope", "nope", "nope")
    out = chat(kluster_emulator, TEXT_MODEL).with_structured_output(Person, include_raw=True).invoke("Ada")
    assert out["parsed"] is None and isinstance(out["parsing_error"], KlusterStructuredOutputError)
    assert out["raw"].text == "nope"


@pytest.mark.parametrize("model", [TOOL_MODEL, TEXT_MODEL])
def test_include_raw_success(kluster_emulator: Any, model: str) -> None:
    out = chat(kluster_emulator, model).with_structured_output(Person, include_raw=True).invoke("Ada, 36")
    assert isinstance(out["parsed"], Person) and out["parsing_error"] is None
    assert out["raw"].response_metadata["model_provider"] == "kluster"


def test_json_mode_is_prompted_even_on_tool_models(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script('{"colour": "blue"}')
    out = chat(kluster_emulator, TOOL_MODEL).with_structured_output(method="json_mode").invoke("Favourite colour?")
    assert out == {"colour": "blue"}
    [body] = chat_bodies(kluster_emulator)
    assert "response_format" not in body and "tools" not in body


async def test_async_prompted_json(kluster_emulator: Any) -> None:
    person = await chat(kluster_emulator, TEXT_MODEL).with_structured_output(Person).ainvoke("Ada, 36")
    assert isinstance(person, Person)


def test_structured_output_needs_a_schema() -> None:
    with pytest.raises(ValueError, match="schema must be specified"):
        ChatKluster(api_key="k-test").with_structured_output(None)


# -- integrations.structured (framework-free) ----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        'Here you go:\n```json\n{"a": 1}\n```',
        'The answer is {"a": 1} as requested.',
        'Note {not json} then {"a": 1}',
    ],
)
def test_extract_json_finds_the_object(text: str) -> None:
    assert extract_json(text) == {"a": 1}


@pytest.mark.parametrize("text", ["", "   ", "no braces here", "{broken"])
def test_extract_json_fails_clearly(text: str) -> None:
    with pytest.raises(KlusterStructuredOutputError) as err:
        extract_json(text)
    assert err.value.raw == text


def test_validation_names_the_field() -> None:
    with pytest.raises(KlusterStructuredOutputError) as err:
        parse_structured('{"name": "Ada"}', Person)
    assert "age" in err.value.problem
    with pytest.raises(KlusterStructuredOutputError, match="age"):
        parse_structured('{"name": "Ada"}', PERSON_SCHEMA)
    with pytest.raises(KlusterStructuredOutputError, match="expected a JSON object"):
        parse_structured("[1, 2]", None)


def test_schema_forms_are_normalised() -> None:
    function = {"name": "Person", "description": "A person.", "parameters": PERSON_SCHEMA}
    assert json_schema_of(function)["properties"] == PERSON_SCHEMA["properties"]
    assert json_schema_of({"type": "function", "function": function})["title"] == "Person"
    assert set(json_schema_of(PersonDict)["properties"]) == {"name", "age"}
    assert json_schema_of(None) is None
    assert '"properties"' in schema_instructions(Person) and "JSON object" in schema_instructions(None)


def test_retry_feedback_repeats_the_schema() -> None:
    error = KlusterStructuredOutputError("the reply contained no JSON object", raw="hi")
    feedback = retry_feedback(error, Person)
    assert feedback.startswith("Your previous reply could not be used: the reply contained no JSON object")
    assert '"age"' in feedback


def calls_to(emulator: Any, suffix: str) -> int:
    return sum(r.path.endswith(suffix) for r in emulator.controls.requests)


def test_prompted_json_batch_is_one_batch_api_job(kluster_emulator: Any) -> None:
    llm = chat(kluster_emulator, TEXT_MODEL, batch=True).with_structured_output(Person)
    people = llm.batch(["Ada Lovelace is 36.", "Alan Turing is 41."])
    assert people == [Person(name="Ada Lovelace", age=36), Person(name="Alan Turing", age=41)]
    assert calls_to(kluster_emulator, "/chat/completions") == 0 and calls_to(kluster_emulator, "/batches") == 1


async def test_prompted_json_abatch_retries_only_the_unusable_reply_in_a_second_job(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(
        '{"name": "Ada Lovelace", "age": 36}', "no json here", '{"name": "Alan", "age": 41}'
    )
    llm = chat(kluster_emulator, TEXT_MODEL, batch=True).with_structured_output(Person)
    people = await llm.abatch(["Ada Lovelace is 36.", "Alan is 41."])
    assert people == [Person(name="Ada Lovelace", age=36), Person(name="Alan", age=41)]
    assert calls_to(kluster_emulator, "/chat/completions") == 0 and calls_to(kluster_emulator, "/batches") == 2
