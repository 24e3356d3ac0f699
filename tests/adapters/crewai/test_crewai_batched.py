"""`kickoff_for_each_batched`: the same CrewOutputs as `kickoff_for_each`, over fewer HTTP calls
(the emulator answers a batch line exactly as it answers the same real-time request)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest
from crewai import LLM, Agent, Crew, Process, Task

from kluster_agents.adapters.crewai import (
    acall_for_each_batched,
    akickoff_for_each_batched,
    call_for_each_batched,
    kickoff_for_each_batched,
)
from kluster_agents.integrations import MicroBatchTransport
from kluster_agents.integrations._api.errors import KlusterBatchError, KlusterConfigError
from kluster_agents.integrations._jobs.microbatch import MicroBatchStats
from kluster_agents.integrations.emulator import ToolCall

# HTTP-call counting tests: emulated batches finish at their first read (no extra polls).
pytestmark = pytest.mark.kluster_emulator(timing="instant")

PRODUCTS = ["tea", "coffee", "bikes", "maps", "pens", "socks"]


def _raws(outputs: list[Any]) -> list[list[str]]:
    return [[task.raw for task in output.tasks_output] for output in outputs]


def test_same_outputs_in_order_with_fewer_http_calls(make_llm: Any, crew_of: Any, kluster_emulator: Any) -> None:
    crew = crew_of(make_llm(), description="Write a tagline for {topic}.")
    inputs = [{"topic": p} for p in PRODUCTS]
    controls = kluster_emulator.controls

    plain = crew.kickoff_for_each(inputs)
    plain_calls = len(controls.requests)
    controls.clear_requests()
    stats = MicroBatchStats()
    batched = kickoff_for_each_batched(crew, inputs, stats=stats, max_wait=60)  # windows close early anyway

    assert _raws(batched) == _raws(plain)
    assert all(p in out.raw for p, out in zip(PRODUCTS, batched, strict=False))  # input order kept
    assert plain_calls == len(PRODUCTS)
    assert controls.count("/chat/completions") == 0
    assert len(controls.requests) < plain_calls
    assert stats.windows == 1 and stats.window_sizes == [len(PRODUCTS)]  # every run's call in one job
    assert [o.token_usage.successful_requests for o in batched] == [1] * len(PRODUCTS)  # usage per run
    assert crew.usage_metrics.successful_requests == len(PRODUCTS)


def test_multi_step_tool_runs_join_one_window_per_step(
    make_llm: Any, crew_of: Any, word_count: Any, kluster_emulator: Any
) -> None:
    crew = crew_of(make_llm(), tools=[word_count], description="Count the words of: {topic}.")
    inputs = [{"topic": "one two"}, {"topic": "three four five"}, {"topic": "six"}]
    plain = crew.kickoff_for_each(inputs)
    stats = MicroBatchStats()
    batched = kickoff_for_each_batched(crew, inputs, stats=stats, max_wait=60)
    assert _raws(batched) == _raws(plain)
    assert stats.window_sizes == [3, 3], stats  # step 1 (tool calls) and step 2 (answers) of all runs


def test_hierarchical_crews_batch_manager_and_coworker_calls(make_llm: Any, kluster_emulator: Any) -> None:
    delegate = ToolCall(
        "delegate_work_to_coworker", {"task": "Name one planet.", "context": "Any planet.", "coworker": "Astronomer"}
    )
    kluster_emulator.controls.script(
        delegate,
        delegate,
        "Final Answer: Mars.",
        "Final Answer: Mars.",
        "The astronomer says: Mars.",
        "The astronomer says: Mars.",
    )
    astronomer = Agent(
        role="Astronomer",
        goal="Know planets",
        backstory="Stargazer.",
        llm=make_llm("mistral-nemo"),
        allow_delegation=False,
    )
    task = Task(description="Name one planet for reader {n}.", expected_output="A planet")
    crew = Crew(agents=[astronomer], tasks=[task], process=Process.hierarchical, manager_llm=make_llm())
    stats = MicroBatchStats()
    outputs = kickoff_for_each_batched(crew, [{"n": 1}, {"n": 2}], stats=stats, max_wait=60)
    assert [o.raw for o in outputs] == ["The astronomer says: Mars."] * 2
    assert stats.window_sizes == [2, 2, 2]  # manager, coworker, manager: each step of both runs in one job


async def test_async_variant(make_llm: Any, crew_of: Any, kluster_emulator: Any) -> None:
    crew = crew_of(make_llm(), description="Write a tagline for {topic}.")
    outputs = await akickoff_for_each_batched(crew, [{"topic": "tea"}, {"topic": "maps"}])
    assert ["tea" in outputs[0].raw, "maps" in outputs[1].raw] == [True, True]
    assert kluster_emulator.controls.count("/batches", "POST") == 1
    with pytest.raises(KlusterConfigError, match="akickoff_for_each_batched"):
        kickoff_for_each_batched(crew, [{"topic": "tea"}])


def test_non_kluster_llm_is_refused_before_any_request(crew_of: Any, kluster_emulator: Any) -> None:
    plain = LLM(
        model="openai/klusterai/Meta-Llama-3.3-70B-Instruct-Turbo",
        base_url=kluster_emulator.base_url,
        api_key=kluster_emulator.api_key,
    )
    with pytest.raises(KlusterConfigError, match=r"Agent 'Researcher'.*kluster_llm"):
        kickoff_for_each_batched(crew_of(plain), [{"topic": "tea"}])
    assert kluster_emulator.controls.requests == []


class _FailingBatcher:
    """Stands in for a MicroBatcher whose line failed."""

    async def complete(self, body: dict[str, Any], **options: Any) -> Any:
        raise KlusterBatchError("line failed: the request was not processed", custom_id="req-7")

    def flush(self) -> None:
        pass


async def test_a_failed_line_reaches_the_caller_as_an_http_error_with_its_custom_id() -> None:
    transport = MicroBatchTransport(_FailingBatcher(), asyncio.get_running_loop())  # type: ignore[arg-type]
    client = openai.AsyncOpenAI(
        api_key="k", base_url="http://batched/v1", max_retries=0, http_client=httpx.AsyncClient(transport=transport)
    )
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502
    assert info.value.body["custom_id"] == "req-7" and "line failed" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError, match="cannot stream"):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    with pytest.raises(openai.APIStatusError, match="only chat completions"):
        await client.models.list()
    sync_client = openai.OpenAI(
        api_key="k", base_url="http://batched/v1", max_retries=0, http_client=httpx.Client(transport=transport)
    )
    with pytest.raises(openai.APIConnectionError) as sync_info:  # a sync call on the batcher's loop would hang
        sync_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert "deadlock" in str(sync_info.value.__cause__)


def test_empty_inputs(make_llm: Any, crew_of: Any) -> None:
    assert kickoff_for_each_batched(crew_of(make_llm()), []) == []


# -- call_for_each_batched: many LLM calls as one batch job ---------------------------------------


def test_llm_calls_for_each_go_through_one_batch_job_in_order(make_llm: Any, kluster_emulator: Any) -> None:
    llm = make_llm()
    stats = MicroBatchStats()
    answers = call_for_each_batched(llm, [f"Write a tagline for {p}." for p in PRODUCTS], stats=stats)
    assert [a for a in answers] == [llm.call(f"Write a tagline for {p}.") for p in PRODUCTS]  # same answers, in order
    assert kluster_emulator.controls.count("/chat/completions") == len(PRODUCTS)  # only the real-time comparison
    assert stats.windows == 1 and stats.window_sizes == [len(PRODUCTS)]


def test_batched_calls_return_tool_calls_and_validated_models(make_llm: Any, kluster_emulator: Any) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        country: str

    tool = {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    kluster_emulator.controls.script(ToolCall("get_weather", {"city": "Paris"}))
    (calls,) = call_for_each_batched(make_llm(), ["Weather in Paris?"], tools=[tool])
    assert calls[0].function.name == "get_weather"
    kluster_emulator.controls.script(ToolCall("City", {"name": "Paris", "country": "France"}))
    (city,) = asyncio.run(acall_for_each_batched(make_llm(), ["Paris is in France."], response_model=City))
    assert city == City(name="Paris", country="France")
    assert kluster_emulator.controls.count("/chat/completions") == 0


async def test_call_for_each_batched_inside_a_loop_points_to_the_async_twin(make_llm: Any) -> None:
    with pytest.raises(KlusterConfigError, match="acall_for_each_batched"):
        call_for_each_batched(make_llm(), ["hi"])
