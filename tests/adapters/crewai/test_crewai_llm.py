"""`kluster_llm`: configuration, compat on the wire, capabilities, structured output, crews."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from crewai import LLM, Agent, Crew, Process, Task
from pydantic import BaseModel

from kluster_agents.adapters.crewai import KlusterCompletion, kluster_llm
from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterUnsupportedError
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._api.structured import KlusterStructuredOutputError
from kluster_agents.integrations.emulator import ToolCall

TOOL_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
TEXT_MODEL = "mistralai/Mistral-Nemo-Instruct-2407"
SECRET = "kl-test-secret-key-123"


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


def _canned_completion(content: str = "hello") -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": TOOL_MODEL,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


# -- configuration -------------------------------------------------------------------------------


def test_key_and_base_url_come_from_kluster_settings_never_from_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_canned_completion())

    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    monkeypatch.setenv("KLUSTER_API_KEY", SECRET)
    llm = KlusterCompletion(model="llama-3.3-70b")
    transport = httpx.MockTransport(handler)
    llm.use_http_clients(httpx.Client(transport=transport), httpx.AsyncClient(transport=transport))

    assert llm.call("Say hello") == "hello"
    request = seen[0]
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert str(request.url) == "https://api.kluster.ai/v1/chat/completions"
    assert request.headers["user-agent"].startswith("kluster-agents/")
    assert json.loads(request.content)["model"] == TOOL_MODEL  # alias resolved to the API name


def test_missing_key_is_a_config_error_even_with_an_openai_key_set() -> None:
    with pytest.raises(KlusterConfigError, match="KLUSTER_API_KEY"):
        kluster_llm("llama-3.3-70b")  # conftest sets OPENAI_API_KEY; it must not be used


def test_key_never_in_repr_or_dump() -> None:
    llm = kluster_llm("llama-3.3-70b", api_key=SECRET)
    assert llm.api_key == SECRET
    assert SECRET not in repr(llm)
    assert SECRET not in str(llm.model_dump())
    assert SECRET not in json.dumps(llm.to_config_dict())


def test_checkpoint_config_never_lets_the_openai_key_reach_kluster() -> None:
    from crewai import LLM

    config = kluster_llm("llama-3.3-70b", api_key=SECRET).to_config_dict()
    restored = LLM(**config)  # what CrewAI's checkpoint restore does; conftest sets OPENAI_API_KEY
    assert restored.api_key != os.environ["OPENAI_API_KEY"]
    assert restored.api_key == "restore-with-kluster_llm" and SECRET not in json.dumps(config)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"response_format": City}, "response_format"),  # a schema (JSON mode is accepted: test_crewai_options.py)
        ({"n": 3}, "n"),
        ({"max_tokens": 10_000_000}, "max_completion_tokens"),
    ],
)
def test_refused_params_raise_before_any_network_call(params: dict[str, Any], parameter: str) -> None:
    with pytest.raises(KlusterUnsupportedError) as info:
        kluster_llm("llama-3.3-70b", api_key=SECRET, **params)
    assert info.value.parameter == parameter


def test_capabilities_come_from_the_catalog() -> None:
    tools_llm = kluster_llm(TOOL_MODEL, api_key=SECRET)
    text_llm = kluster_llm(TEXT_MODEL, api_key=SECRET)
    vision_llm = kluster_llm("google/gemma-3-27b-it", api_key=SECRET)
    assert tools_llm.supports_function_calling() and not text_llm.supports_function_calling()
    assert vision_llm.supports_multimodal() and not tools_llm.supports_multimodal()
    assert 100_000 < tools_llm.get_context_window_size() < 131_000  # 131k context, CrewAI's usage ratio
    trial = kluster_llm(TOOL_MODEL, settings=KlusterSettings(api_key=SECRET, tier="trial"))
    assert trial.get_context_window_size() < 32_000
    llama_only = kluster_llm("deepseek-v3", settings=KlusterSettings(api_key=SECRET, tool_support="llama-only"))
    assert not llama_only.supports_function_calling()


# -- on the wire (emulator, strict mode: unsupported parameters would be a 400) ------------------


def test_streaming_works_without_stream_options(make_llm: Any, chat_bodies: Any) -> None:
    llm = make_llm(stream=True, max_tokens=200)
    text = llm.call("Say hello")
    assert "[emulated]" in text
    probe, body = chat_bodies()  # the docs refuse stream_options: asked once, then never again
    assert probe["stream_options"] == {"include_usage": True}
    assert body["stream"] is True
    assert "stream_options" not in body
    assert body["max_completion_tokens"] == 200 and "max_tokens" not in body


async def test_async_call(make_llm: Any, chat_bodies: Any) -> None:
    text = await make_llm().acall("Say hello")
    assert "[emulated]" in text
    assert len(chat_bodies()) == 1


def test_tool_model_uses_native_function_calling(
    make_llm: Any, chat_bodies: Any, crew_of: Any, word_count: Any, kluster_emulator: Any
) -> None:
    kluster_emulator.controls.script(ToolCall("word_count", {"text": "one two three"}), "Three words.")
    result = crew_of(make_llm(), tools=[word_count], description="How many words in 'one two three'?").kickoff()
    assert result.raw == "Three words."
    first, second = chat_bodies()
    assert [t["function"]["name"] for t in first["tools"]] == ["word_count"]
    assert all(t["function"]["strict"] is True for t in first["tools"])  # as CrewAI builds them
    tool_message = next(m for m in second["messages"] if m["role"] == "tool")
    assert tool_message["content"] == "3 words"
    assert "name" not in tool_message  # dropped by compat: the strict emulator would 400 it
    assert all(r.status == 200 for r in kluster_emulator.controls.requests)


def test_plain_crewai_llm_is_rejected_in_the_same_tool_loop_on_the_strict_emulator(
    kluster_emulator: Any, crew_of: Any, word_count: Any
) -> None:
    """Why the adapter exists: CrewAI's own OpenAI LLM sends `messages[].name` with tool results
    (CrewAI then retries without the tool history); ours never gets a 400."""
    kluster_emulator.controls.script(ToolCall("word_count", {"text": "one two three"}), "Three words.")
    plain = LLM(model=f"openai/{TOOL_MODEL}", base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key)
    crew_of(plain, tools=[word_count]).kickoff()
    rejected = [r.body for r in kluster_emulator.controls.requests if r.status == 400]
    assert rejected and any("name" in m for m in rejected[0]["messages"] if m["role"] == "tool")


def test_text_model_gets_react_text_tools_and_no_tools_param(
    make_llm: Any, chat_bodies: Any, crew_of: Any, word_count: Any, kluster_emulator: Any
) -> None:
    kluster_emulator.controls.script(
        'Thought: I should count.\nAction: word_count\nAction Input: {"text": "a b c d"}',
        "Thought: I know it now.\nFinal Answer: There are 4 words.",
    )
    result = crew_of(make_llm(TEXT_MODEL), tools=[word_count]).kickoff()
    assert result.raw == "There are 4 words."
    bodies = chat_bodies()
    assert len(bodies) == 2
    assert all("tools" not in b and "tool_choice" not in b for b in bodies)
    assert "4 words" in json.dumps(bodies[1]["messages"])  # the tool really ran; its observation went back


# -- structured output without response_format ----------------------------------------------------


def test_output_pydantic_on_a_tool_model_uses_a_forced_tool_call(
    make_llm: Any, chat_bodies: Any, crew_of: Any, kluster_emulator: Any
) -> None:
    kluster_emulator.controls.script(ToolCall("City", {"name": "Paris", "country": "France"}))
    result = crew_of(make_llm(), output_pydantic=City).kickoff()
    assert result.pydantic == City(name="Paris", country="France")
    body = chat_bodies()[0]
    assert "response_format" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "City"}}
    assert body["tools"][0]["function"]["parameters"]["required"] == ["name", "country"]


def test_output_pydantic_on_a_text_model_uses_prompted_json(make_llm: Any, chat_bodies: Any, crew_of: Any) -> None:
    result = crew_of(make_llm(TEXT_MODEL), output_pydantic=City).kickoff()  # the emulator answers the schema
    assert isinstance(result.pydantic, City)
    body = chat_bodies()[0]
    assert "response_format" not in body and "tools" not in body
    assert '"properties"' in body["messages"][0]["content"]  # the schema went into the system prompt


def test_invalid_structured_reply_is_retried_with_feedback(
    make_llm: Any, chat_bodies: Any, kluster_emulator: Any
) -> None:
    kluster_emulator.controls.script('{"name": "Paris"}', '{"name": "Paris", "country": "France"}')
    city = make_llm(TEXT_MODEL).call("Capital of France?", response_model=City)
    assert city == City(name="Paris", country="France")
    retry = chat_bodies()[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": '{"name": "Paris"}'}
    assert "country" in retry[-1]["content"] and retry[-1]["role"] == "user"


def test_structured_output_gives_up_after_its_retries(make_llm: Any, chat_bodies: Any, kluster_emulator: Any) -> None:
    kluster_emulator.controls.script("no json", "still none", "nope")
    with pytest.raises(KlusterStructuredOutputError, match="no JSON object"):
        make_llm(TEXT_MODEL, structured_output_retries=2).call("Capital of France?", response_model=City)
    assert len(chat_bodies()) == 3


async def test_async_structured_output(make_llm: Any, kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(ToolCall("City", {"name": "Rome", "country": "Italy"}))
    assert await make_llm().acall("Capital of Italy?", response_model=City) == City(name="Rome", country="Italy")


# -- crews --------------------------------------------------------------------------------------------


def test_multi_agent_sequential_crew_passes_context(make_llm: Any, chat_bodies: Any, kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(
        "Final Answer: Fact: tea was first drunk in China.", "Final Answer: Tea, from China with love."
    )
    llm = make_llm()
    researcher = Agent(role="Researcher", goal="Find facts", backstory="Careful.", llm=llm)
    writer = Agent(role="Writer", goal="Write taglines", backstory="Witty.", llm=llm)
    research = Task(description="Find a fact about tea.", expected_output="One fact", agent=researcher)
    write = Task(
        description="Write a tagline from the fact.", expected_output="One line", agent=writer, context=[research]
    )
    crew = Crew(agents=[researcher, writer], tasks=[research, write])
    assert crew.memory is False  # memory needs an embedder; kluster has no embeddings endpoint
    result = crew.kickoff()
    assert [t.raw for t in result.tasks_output] == ["Fact: tea was first drunk in China.", "Tea, from China with love."]
    assert "tea was first drunk in China" in json.dumps(chat_bodies()[1]["messages"])


def test_hierarchical_crew_with_a_kluster_manager_llm(make_llm: Any, chat_bodies: Any, kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(
        ToolCall(
            "delegate_work_to_coworker",
            {"task": "Name one planet.", "context": "Any planet.", "coworker": "Astronomer"},
        ),
        "Final Answer: Mars.",
        "The astronomer says: Mars.",  # native tool mode: the final text is taken as is
    )
    astronomer = Agent(
        role="Astronomer", goal="Know planets", backstory="Stargazer.", llm=make_llm(TEXT_MODEL), allow_delegation=False
    )
    task = Task(description="Name one planet.", expected_output="A planet")
    crew = Crew(agents=[astronomer], tasks=[task], process=Process.hierarchical, manager_llm=make_llm())
    result = crew.kickoff()
    assert result.raw == "The astronomer says: Mars."
    bodies = chat_bodies()
    assert len(bodies) == 3
    assert bodies[0]["model"] == TOOL_MODEL and bodies[1]["model"] == TEXT_MODEL
    assert "Mars." in json.dumps(bodies[2]["messages"])


async def test_native_async_kickoff_uses_a_client_per_event_loop(
    make_llm: Any, crew_of: Any, kluster_emulator: Any
) -> None:
    kluster_emulator.controls.script("Final Answer: async ok")
    llm = make_llm()
    result = await crew_of(llm).akickoff()
    assert result.raw == "async ok"
    assert llm._get_async_client() is llm._get_async_client()  # cached for this loop


def test_import_without_crewai_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['crewai'] = None\n"
        "try:\n    import kluster_agents.adapters.crewai\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert 'pip install "kluster-agents[crewai]"' in out


def test_explicit_tools_on_a_text_model_are_refused_before_the_network(make_llm: Any, chat_bodies: Any) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    with pytest.raises(KlusterUnsupportedError, match="tools") as info:
        make_llm(TEXT_MODEL).call("Hi", tools=[tool])
    assert info.value.parameter == "tools" and chat_bodies() == []


def test_structured_output_on_a_streaming_llm_is_one_validated_non_streamed_call(
    make_llm: Any, chat_bodies: Any, kluster_emulator: Any
) -> None:
    kluster_emulator.controls.script(ToolCall("City", {"name": "Oslo", "country": "Norway"}))
    assert make_llm(stream=True).call("Capital of Norway?", response_model=City) == City(name="Oslo", country="Norway")
    assert "stream" not in chat_bodies()[0]


def test_crewai_telemetry_is_off_in_tests() -> None:
    from crewai.telemetry import Telemetry

    assert Telemetry._is_telemetry_disabled()
