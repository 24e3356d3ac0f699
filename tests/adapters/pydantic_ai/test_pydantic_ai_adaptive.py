"""Adaptive inference from PydanticAI: the `kluster_adaptive` model setting and `run_many(via="adaptive")`."""

from __future__ import annotations

import pytest
from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import KlusterModelSettings, KlusterProvider, kluster_model, run_many
from kluster_agents.integrations import KlusterConfigError, KlusterUnsupportedError
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
PLACEHOLDER = "queued for adaptive inference"


def chat_bodies(emulator) -> list[dict]:
    return [r.body for r in emulator.controls.requests if r.path == "/v1/chat/completions"]


def agent_for(emulator, **kwargs) -> Agent:
    return Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=emulator.settings)), **kwargs)


def test_agent_setting_runs_adaptively_and_returns_the_real_answer(kluster_emulator) -> None:
    agent = agent_for(kluster_emulator, model_settings=KlusterModelSettings(kluster_adaptive=True))
    result = agent.run_sync("Capital of Nepal?")
    assert result.output == "[emulated] reply to: Capital of Nepal?" and PLACEHOLDER not in result.output
    (body,) = chat_bodies(kluster_emulator)
    assert body["metadata"]["@kluster.ai"] == {"async": True, "completion_window": "24h"}


def test_per_run_mode_keeps_the_users_metadata(kluster_emulator) -> None:
    agent = agent_for(kluster_emulator)
    settings = KlusterModelSettings(
        kluster_adaptive={"completion_window": "1h"}, extra_body={"metadata": {"team": "search"}}
    )
    assert agent.run_sync("hi", model_settings=settings).output == "[emulated] reply to: hi"
    assert agent.run_sync("again").output == "[emulated] reply to: again"  # off again for the next run
    adaptive, plain = chat_bodies(kluster_emulator)
    assert adaptive["metadata"] == {"team": "search", "@kluster.ai": {"async": True, "completion_window": "1h"}}
    assert "metadata" not in plain


def test_mode_object_and_off_values(kluster_emulator) -> None:
    agent = agent_for(kluster_emulator)
    agent.run_sync("a", model_settings={"kluster_adaptive": AdaptiveMode(completion_window="3h")})
    agent.run_sync("b", model_settings={"kluster_adaptive": False})
    first, second = chat_bodies(kluster_emulator)
    assert first["metadata"]["@kluster.ai"]["completion_window"] == "3h" and "metadata" not in second


def test_a_bad_mode_is_a_config_error_before_the_network(kluster_emulator) -> None:
    agent = agent_for(kluster_emulator)
    with pytest.raises(KlusterConfigError, match="adaptive"):
        agent.run_sync("hi", model_settings={"kluster_adaptive": "yes"})  # type: ignore[typeddict-item]
    assert chat_bodies(kluster_emulator) == []


async def test_streaming_an_adaptive_run_is_refused_before_the_network(kluster_emulator) -> None:
    agent = agent_for(kluster_emulator, model_settings=KlusterModelSettings(kluster_adaptive=True))
    with pytest.raises(KlusterUnsupportedError, match="Adaptive inference cannot be streamed") as info:
        async with agent.run_stream("hi") as result:
            await result.get_output()
    assert info.value.model == LLAMA
    assert chat_bodies(kluster_emulator) == []


async def test_run_many_via_adaptive(kluster_emulator) -> None:
    outcomes = await run_many(agent_for(kluster_emulator), ["one", "two"], via="adaptive", completion_window="1h")
    assert [o.unwrap() for o in outcomes] == ["[emulated] reply to: one", "[emulated] reply to: two"]
    bodies = chat_bodies(kluster_emulator)
    assert len(bodies) == 2
    assert all(b["metadata"]["@kluster.ai"] == {"async": True, "completion_window": "1h"} for b in bodies)
