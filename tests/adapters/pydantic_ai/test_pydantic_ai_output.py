"""Typed output both ways: an output tool on tool models, prompted JSON (validated, retried) elsewhere."""

from __future__ import annotations

import json

from pydantic import BaseModel
from pydantic_ai import Agent, PromptedOutput

from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
NEMO = "mistralai/Mistral-Nemo-Instruct-2407"


class City(BaseModel):
    name: str
    country: str
    population: int


def chat_bodies(emulator) -> list[dict]:
    return [r.body for r in emulator.controls.requests if r.path == "/v1/chat/completions"]


def agent_for(emulator, model: str) -> Agent[None, City]:
    return Agent(kluster_model(model, provider=KlusterProvider(settings=emulator.settings)), output_type=City)


def test_tool_model_uses_an_output_tool(kluster_emulator) -> None:
    city = agent_for(kluster_emulator, LLAMA).run_sync("Paris, France, 2 million people").output
    assert isinstance(city, City)
    (body,) = chat_bodies(kluster_emulator)
    assert [t["function"]["name"] for t in body["tools"]] == ["final_result"]
    assert body["tool_choice"] == "required" and "response_format" not in body  # compat sends "required"


def test_model_without_tools_gets_prompted_json_in_json_mode(kluster_emulator) -> None:
    city = agent_for(kluster_emulator, NEMO).run_sync("Paris, France, 2 million people").output
    assert isinstance(city, City)
    (body,) = chat_bodies(kluster_emulator)
    assert "tools" not in body and body["response_format"] == {"type": "json_object"}
    assert '"population"' in body["messages"][0]["content"]  # the schema is in the instructions


def test_prompted_json_is_validated_and_retried(kluster_emulator) -> None:
    kluster_emulator.controls.script(
        "Sure! Paris is in France.",  # no JSON: pydantic-ai sends the validation error back
        '{"name": "Paris", "country": "France", "population": 2102650}',
    )
    city = agent_for(kluster_emulator, NEMO).run_sync("Paris, France, 2 million people").output
    assert city == City(name="Paris", country="France", population=2102650)
    first, second = chat_bodies(kluster_emulator)
    assert len(second["messages"]) > len(first["messages"])
    assert "Sure! Paris is in France." in json.dumps(second["messages"])


def test_prompted_output_on_a_tool_model_sends_json_mode_and_validates(kluster_emulator) -> None:
    agent = Agent(
        kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings)),
        output_type=PromptedOutput(City),
    )
    city = agent.run_sync("Paris, France, 2 million people").output
    assert isinstance(city, City)
    (body,) = chat_bodies(kluster_emulator)
    assert body["response_format"] == {"type": "json_object"} and "tools" not in body
