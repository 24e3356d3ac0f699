"""CrewAI adapter overhead (run: `uv run pytest -m benchmark tests/benchmarks/test_crewai_overhead.py -s`).

`kluster_llm` vs CrewAI's own `LLM(model="openai/...", base_url=..., api_key=...)`, in one run:
1. one `llm.call()` on the SAME in-process mock transport (pure client-side cost: our compat
   pass, catalog lookups and client vs CrewAI's plain OpenAI path);
2. a small two-agent crew `kickoff()` against the embedded emulator (what a user sees).
Measurements are interleaved (the order alternates every round) and compared by median, with the
spread over rounds (`_timing`).
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

pytest.importorskip("crewai")

from crewai import LLM, Agent, Crew, Task

from kluster_agents.adapters.crewai import kluster_llm
from kluster_agents.integrations._api.settings import KlusterSettings

from ._timing import Samples, compare, interleave

pytestmark = pytest.mark.benchmark

MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
KEY = "kl-bench-key-000111"
BASE_URL = "http://crewai.bench/v1"
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": MODEL,
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Final Answer: ok"}}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23},
}
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say ok."}]


def _mock() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json=COMPLETION))


def _report(what: str, samples: dict[str, Samples]) -> float:
    result = compare(samples, "kluster_llm", "plain crewai.LLM")
    print(f"\n{what}: {result.describe()}")
    return result.ratio


def test_llm_call_overhead_on_the_same_mock_transport() -> None:
    ours = kluster_llm(MODEL, settings=KlusterSettings.load(api_key=KEY, base_url=BASE_URL, warn_on_drop=False))
    ours.use_http_clients(httpx.Client(transport=_mock()), httpx.AsyncClient(transport=_mock()))
    plain = LLM(model=f"openai/{MODEL}", base_url=BASE_URL, api_key=KEY)
    plain._client = openai.OpenAI(api_key=KEY, base_url=BASE_URL, http_client=httpx.Client(transport=_mock()))
    assert ours.call(MESSAGES) == plain.call(MESSAGES) == "Final Answer: ok"

    calls = 50
    samples = interleave(
        {"kluster_llm": lambda: ours.call(MESSAGES), "plain crewai.LLM": lambda: plain.call(MESSAGES)},
        rounds=9,
        per_round=calls,
    )
    ratio = _report(f"llm.call(), per call ({calls} calls a round)", samples)
    assert ratio < 1.5


def _crew(llm: Any) -> Crew:
    researcher = Agent(role="Researcher", goal="Find one fact", backstory="Careful.", llm=llm)
    writer = Agent(role="Writer", goal="Write one line", backstory="Terse.", llm=llm)
    research = Task(description="Find a fact about tea.", expected_output="One fact", agent=researcher)
    write = Task(
        description="Write a line from the fact.", expected_output="One line", agent=writer, context=[research]
    )
    return Crew(agents=[researcher, writer], tasks=[research, write])


def test_crew_kickoff_overhead_on_the_emulator(kluster_emulator: Any) -> None:
    ours = kluster_llm(MODEL, settings=kluster_emulator.settings)
    plain = LLM(model=f"openai/{MODEL}", base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key)
    assert _crew(ours).kickoff().raw == _crew(plain).kickoff().raw  # same answers from the same requests

    samples = interleave(
        {"kluster_llm": lambda: _crew(ours).kickoff(), "plain crewai.LLM": lambda: _crew(plain).kickoff()}, rounds=9
    )
    ratio = _report("two-agent crew kickoff (2 LLM calls)", samples)
    assert ratio < 1.5
