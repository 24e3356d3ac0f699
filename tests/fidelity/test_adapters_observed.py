"""Each adapter's main path (chat, and its batch mode) against the emulator in its default mode and
timing, which serve the live service's observed batch shapes (`observed.py`): a new batch in
`pre_schedule`, `errors: []`, output lines without an `error` key, and a job that is polled through
non-terminal statuses before it completes. Nothing may crash on them."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from kluster_agents.integrations.emulator._control.controls import JobTiming

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
POLL = 0.05
_BATCH_PATH = re.compile(r"/v1/batches/([^/]+)")


@pytest.fixture
def observed(kluster_emulator: Any) -> Any:
    """The emulator as every test gets it by default: observed shapes and observed (scaled) timing."""
    assert kluster_emulator.controls.mode == "strict"
    assert kluster_emulator.controls.timing == JobTiming.for_mode("fast")  # observed pacing, each job capped
    return kluster_emulator


def _first_reads(emulator: Any) -> None:
    """Every batch the adapter created was read while not finished and served the observed shapes."""
    polls: dict[str, int] = {}
    for r in emulator.controls.requests:
        match = _BATCH_PATH.fullmatch(r.path)
        if r.method == "GET" and match:
            polls[match.group(1)] = polls.get(match.group(1), 0) + 1
    assert polls, "the adapter created no batch"
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    with httpx.Client(base_url=emulator.base_url, headers=headers) as http:
        for batch_id, reads in polls.items():
            assert reads >= 2, f"batch {batch_id} was read {reads}x: never seen unfinished"
            raw = http.get(f"/batches/{batch_id}").json()
            assert raw["status"] == "completed" and raw["errors"] == []
            assert raw["in_progress_at"] == raw["created_at"]  # observed; no `validating`/`finalizing` stamps
            lines = [json.loads(line) for line in http.get(f"/files/{raw['output_file_id']}/content").text.splitlines()]
            assert lines and all("error" not in line for line in lines)


def test_langchain_chat_and_batch_api(observed: Any) -> None:
    pytest.importorskip("langchain_core")
    from kluster_agents.adapters.langchain import ChatKluster

    def make(**kwargs: Any) -> Any:
        return ChatKluster(model=LLAMA, api_key=observed.api_key, base_url=observed.base_url, **kwargs)

    assert make().invoke("hello").content == "[emulated] reply to: hello"
    replies = make(batch=True, batch_poll_interval=POLL).batch(["one", "two"])
    assert [m.content for m in replies] == ["[emulated] reply to: one", "[emulated] reply to: two"]
    _first_reads(observed)


def test_litellm_completion_and_batch_completion(observed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    litellm = pytest.importorskip("litellm")
    from kluster_agents.adapters.litellm import batch_completion_via_api, register

    monkeypatch.setattr(litellm, "disable_hf_tokenizer_download", True)
    monkeypatch.setattr(litellm, "suppress_debug_info", True)
    register(observed.settings)
    messages = [{"role": "user", "content": "hello"}]
    reply = litellm.completion(model=f"kluster/{LLAMA}", messages=messages)
    assert reply.choices[0].message.content == "[emulated] reply to: hello"
    responses = batch_completion_via_api(
        [{"model": f"kluster/{LLAMA}", "messages": [{"role": "user", "content": q}]} for q in ("one", "two")],
        settings=observed.settings,
        journal=False,
        poll_interval=POLL,
    )
    assert [r.choices[0].message.content for r in responses] == ["[emulated] reply to: one", "[emulated] reply to: two"]
    _first_reads(observed)  # LiteLLM's own create/retrieve/cancel_batch: tests/adapters/litellm/test_litellm_batch.py


def test_crewai_llm_and_batched_kickoff(observed: Any) -> None:
    pytest.importorskip("crewai")
    from crewai import Agent, Crew, Task

    from kluster_agents.adapters.crewai import kickoff_for_each_batched, kluster_llm

    llm = kluster_llm(LLAMA, settings=observed.settings)
    assert llm.call("hello") == "[emulated] reply to: hello"
    agent = Agent(role="Writer", goal="Write taglines", backstory="Brief.", llm=llm, max_iter=2)
    crew = Crew(
        agents=[agent], tasks=[Task(description="A tagline for {topic}.", expected_output="One line", agent=agent)]
    )
    outputs = kickoff_for_each_batched(crew, [{"topic": "tea"}, {"topic": "maps"}], poll_interval=POLL, max_wait=60)
    assert [("tea" in outputs[0].raw), ("maps" in outputs[1].raw)] == [True, True]
    _first_reads(observed)


async def test_pydantic_ai_run_and_run_many(observed: Any) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent

    from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model, run_many

    agent = Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=observed.settings)))
    assert (await agent.run("hello")).output == "[emulated] reply to: hello"
    outcomes = await run_many(agent, ["one", "two"], via="batch", poll_interval=POLL)
    assert [o.unwrap() for o in outcomes] == ["[emulated] reply to: one", "[emulated] reply to: two"]
    _first_reads(observed)
