"""Compat runs exactly once per request, in every adapter, real-time and batch.

`prepare_chat_request` is wrapped with a counter in every kluster_agents module that holds it
(so no import path escapes the count), then each adapter's real-time call and batch mode runs
against the emulator: the count must equal the number of chat requests made.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from kluster_agents.integrations._api import compat

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
PROMPTS = ["first", "second", "third"]


class Counter:
    def __init__(self) -> None:
        self.calls = 0


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    """Count compat passes; patch every loaded module that bound `prepare_chat_request`, and
    `RequestShapes.prepare_keyed` (the pass of the batch writer and the real-time clients)."""
    for extra in ("langchain", "litellm", "crewai", "pydantic_ai"):
        pytest.importorskip(extra)
    import kluster_agents.adapters
    import kluster_agents.integrations

    # Packages load their modules lazily: import them all now, so every module that binds
    # `prepare_chat_request` is loaded (and patched) before the scenario runs.
    for package in (kluster_agents.integrations, kluster_agents.adapters):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(info.name)

    original = compat.prepare_chat_request
    counter = Counter()

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        counter.calls += 1
        return original(*args, **kwargs)

    holders = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("kluster_agents") and getattr(module, "prepare_chat_request", None) is original
    ]
    assert compat in holders and len(holders) >= 3  # compat, kluster_openai, microbatch, batch.input, ...
    for module in holders:
        monkeypatch.setattr(module, "prepare_chat_request", counting)
    shaped = compat.RequestShapes.prepare_keyed  # `prepare` calls it; its fallback is not a second pass

    def counting_shapes(self: compat.RequestShapes, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        counter.calls += 1
        return shaped(self, body)

    monkeypatch.setattr(compat.RequestShapes, "prepare_keyed", counting_shapes)
    yield counter


def chat_calls(emulator: Any) -> int:
    return emulator.controls.count("/chat/completions")


def batch_jobs(emulator: Any) -> int:
    return emulator.controls.count("/batches", "POST")


# -- LangChain ----------------------------------------------------------------------------------


def test_langchain_invoke(passes: Counter, kluster_emulator: Any) -> None:
    from kluster_agents.adapters.langchain import ChatKluster

    llm = ChatKluster(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url, max_tokens=32)
    assert llm.invoke("hi").text == "[emulated] reply to: hi"
    assert passes.calls == chat_calls(kluster_emulator) == 1


def test_langchain_batch_mode(passes: Counter, kluster_emulator: Any) -> None:
    from kluster_agents.adapters.langchain import ChatKluster

    llm = ChatKluster(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url, batch=True)
    assert [m.text for m in llm.batch(PROMPTS)] == [f"[emulated] reply to: {p}" for p in PROMPTS]
    assert chat_calls(kluster_emulator) == 0 and batch_jobs(kluster_emulator) == 1
    assert passes.calls == len(PROMPTS)


# -- LiteLLM ------------------------------------------------------------------------------------


@pytest.fixture
def litellm_on_emulator(kluster_emulator_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import litellm

    from kluster_agents.adapters.litellm import register

    monkeypatch.setattr(litellm, "disable_hf_tokenizer_download", True)
    monkeypatch.setattr(litellm, "suppress_debug_info", True)
    register()
    return kluster_emulator_env


def test_litellm_completion(passes: Counter, litellm_on_emulator: Any) -> None:
    import litellm

    response = litellm.completion(model=f"kluster/{LLAMA}", messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    assert response.choices[0].message.content == "[emulated] reply to: hi"
    assert passes.calls == chat_calls(litellm_on_emulator) == 1


def test_litellm_batch_helper(passes: Counter, litellm_on_emulator: Any) -> None:
    from kluster_agents.adapters.litellm import batch_completion_via_api

    requests = [{"model": f"kluster/{LLAMA}", "messages": [{"role": "user", "content": p}]} for p in PROMPTS]
    responses = batch_completion_via_api(requests, journal=False, poll_interval=0.02)
    assert [r.choices[0].message.content for r in responses] == [f"[emulated] reply to: {p}" for p in PROMPTS]
    assert batch_jobs(litellm_on_emulator) == 1
    assert passes.calls == len(PROMPTS)


# -- CrewAI -------------------------------------------------------------------------------------


def _crew(llm: Any) -> Any:
    from crewai import Agent, Crew, Task

    agent = Agent(role="Writer", goal="Write", backstory="Brief.", llm=llm, max_iter=2)
    return Crew(
        agents=[agent], tasks=[Task(description="A tagline for {topic}.", expected_output="One line", agent=agent)]
    )


def test_crewai_call(passes: Counter, kluster_emulator: Any) -> None:
    from kluster_agents.adapters.crewai import kluster_llm

    llm = kluster_llm(LLAMA, settings=kluster_emulator.settings, max_tokens=32)  # its parameter probe is a pure check
    assert passes.calls == 0
    assert llm.call("hi") == "[emulated] reply to: hi"
    assert passes.calls == chat_calls(kluster_emulator) == 1


def test_crewai_batched_kickoff(passes: Counter, kluster_emulator: Any) -> None:
    from kluster_agents.adapters.crewai import kickoff_for_each_batched, kluster_llm

    crew = _crew(kluster_llm(LLAMA, settings=kluster_emulator.settings))
    outputs = kickoff_for_each_batched(crew, [{"topic": p} for p in PROMPTS], max_wait=60)
    assert len(outputs) == len(PROMPTS)
    assert chat_calls(kluster_emulator) == 0 and batch_jobs(kluster_emulator) == 1
    assert passes.calls == len(PROMPTS)  # one model call per run, each through compat once


# -- PydanticAI ---------------------------------------------------------------------------------


def _agent(kluster_emulator: Any) -> Any:
    from pydantic_ai import Agent

    from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model

    return Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=kluster_emulator.settings)))


async def test_pydantic_ai_run(passes: Counter, kluster_emulator: Any) -> None:
    result = await _agent(kluster_emulator).run("hi")
    assert result.output == "[emulated] reply to: hi"
    assert passes.calls == chat_calls(kluster_emulator) == 1


async def test_pydantic_ai_run_many(passes: Counter, kluster_emulator: Any) -> None:
    from kluster_agents.adapters.pydantic_ai import run_many

    outcomes = await run_many(_agent(kluster_emulator), PROMPTS, poll_interval=0.02)
    assert [o.unwrap() for o in outcomes] == [f"[emulated] reply to: {p}" for p in PROMPTS]
    assert chat_calls(kluster_emulator) == 0 and batch_jobs(kluster_emulator) == 1
    assert passes.calls == len(PROMPTS)


# -- the pure check -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"model": LLAMA, "messages": []},
        {"messages": [{"role": "user", "content": "x"}]},
        {"model": LLAMA, "messages": [{"content": "no role"}]},
        {"model": LLAMA, "messages": [{"role": "user", "content": "x"}], "n": 2},
        {
            "model": LLAMA,
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        },
        {"model": LLAMA, "messages": [{"role": "user", "content": "x"}], "tool_choice": "required"},
        {
            "model": "mistralai/Mistral-Nemo-Instruct-2407",
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{}],
        },
        {"model": LLAMA, "messages": [{"role": "user", "content": "x"}], "max_tokens": 10**9},
        {
            "model": LLAMA,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}],
        },
    ],
)
def test_check_raises_what_prepare_raises_without_preparing(params: dict[str, Any]) -> None:
    with pytest.raises(Exception) as prepared:
        compat.prepare_chat_request(params)
    with pytest.raises(type(prepared.value)) as checked:
        compat.check_chat_request(params)
    assert str(checked.value) == str(prepared.value)


def test_check_accepts_what_prepare_accepts_and_changes_nothing() -> None:
    params = {
        "model": "llama-3.3-70b",
        "messages": [{"role": "user", "content": "x", "name": "n"}],
        "max_tokens": 5,
        "store": True,
        "n": 1,
    }
    before = {**params, "messages": [dict(m) for m in params["messages"]]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a check never warns (compat warns once, when it runs)
        assert compat.check_chat_request(params) is None
    assert params == before
