"""run_many: an agent over many inputs, coalesced into Batch API jobs, results in order."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model, run_many, run_many_sync
from kluster_agents.integrations import KlusterConfigError, KlusterUnsupportedError
from kluster_agents.integrations.emulator._model.replies import ToolCall

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
NEMO = "mistralai/Mistral-Nemo-Instruct-2407"


class Sentiment(BaseModel):
    label: str
    score: float


def count(emulator, method: str, path: str) -> int:
    return sum(1 for r in emulator.controls.requests if r.method == method and r.path == path)


def agent_for(emulator, model: str = LLAMA, **kwargs) -> Agent:
    return Agent(kluster_model(model, provider=KlusterProvider(settings=emulator.settings)), **kwargs)


async def test_batch_run_is_one_job_in_input_order_with_per_input_errors(kluster_emulator) -> None:
    agent = agent_for(kluster_emulator)
    inputs = ["first", "second", {"user_prompt": "too long", "model_settings": {"max_tokens": 10**9}}, "fourth"]
    outcomes = await run_many(agent, inputs, via="batch", poll_interval=0.02)
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert [o.output for o in outcomes if o.ok] == [f"[emulated] reply to: {p}" for p in ("first", "second", "fourth")]
    assert isinstance(outcomes[2].error, KlusterUnsupportedError) and outcomes[2].output is None
    with pytest.raises(KlusterUnsupportedError):
        outcomes[2].unwrap()
    assert count(kluster_emulator, "POST", "/v1/batches") == 1
    assert count(kluster_emulator, "POST", "/v1/chat/completions") == 0


async def test_batch_run_with_typed_output_and_tools_takes_one_job_per_step(kluster_emulator) -> None:
    agent = agent_for(kluster_emulator, output_type=Sentiment)
    outcomes = await run_many(agent, ["great product", "awful service"], poll_interval=0.02)
    assert all(isinstance(o.unwrap(), Sentiment) for o in outcomes)
    assert count(kluster_emulator, "POST", "/v1/batches") == 1

    kluster_emulator.controls.clear_requests()
    tool_agent = agent_for(kluster_emulator)

    @tool_agent.tool_plain
    def lookup(term: str) -> str:
        return f"{term} means something"

    kluster_emulator.controls.script(ToolCall("lookup", {"term": "a"}), ToolCall("lookup", {"term": "b"}))
    outcomes = await run_many(tool_agent, ["define a", "define b"], poll_interval=0.02)
    assert all("means something" in o.unwrap() for o in outcomes)
    assert count(kluster_emulator, "POST", "/v1/batches") == 2  # tool call step, then the answer step


async def test_prompted_output_model_in_batch(kluster_emulator) -> None:
    outcomes = await run_many(
        agent_for(kluster_emulator, NEMO, output_type=Sentiment), ["good", "bad"], poll_interval=0.02
    )
    assert all(isinstance(o.unwrap(), Sentiment) for o in outcomes)


async def test_realtime_run(kluster_emulator) -> None:
    outcomes = await run_many(agent_for(kluster_emulator), ["a", "b", "c"], via="realtime", max_concurrency=2)
    assert [o.unwrap() for o in outcomes] == [f"[emulated] reply to: {p}" for p in "abc"]
    assert count(kluster_emulator, "POST", "/v1/chat/completions") == 3
    assert count(kluster_emulator, "POST", "/v1/batches") == 0


def test_sync_wrapper_and_model_override(kluster_emulator) -> None:
    agent = Agent()  # no model of its own
    model = kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings))
    outcomes = run_many_sync(agent, ["x"], model=model, poll_interval=0.02)
    assert outcomes[0].unwrap() == "[emulated] reply to: x"


async def test_non_kluster_model_is_refused() -> None:
    with pytest.raises(KlusterConfigError, match="kluster model"):
        await run_many(Agent("test"), ["x"])
    with pytest.raises(KlusterConfigError, match="via"):
        await run_many(Agent("test"), ["x"], via="carrier-pigeon")  # type: ignore[arg-type]
