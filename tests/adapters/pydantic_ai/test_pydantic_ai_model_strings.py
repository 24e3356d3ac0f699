"""`Agent("kluster:<model>")`: plain, once the adapter is imported, and through the `kluster_models()` capability."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from kluster_agents.adapters.pydantic_ai import KlusterProvider, KlusterProviderError, kluster_models

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


def _chat_models(emulator: Any) -> list[str]:
    return [r.body["model"] for r in emulator.controls.requests if r.path == "/v1/chat/completions"]


def test_agent_with_a_plain_kluster_string(kluster_emulator_env: Any) -> None:
    agent = Agent("kluster:llama-3.3-70b")
    result = agent.run_sync("Capital of Nepal?")
    assert result.output == "[emulated] reply to: Capital of Nepal?"
    assert _chat_models(kluster_emulator_env) == [LLAMA]
    assert result.all_messages()[-1].provider_name == "kluster"
    assert agent.run_sync("hi", model="kluster:klusterai/Meta-Llama-3.1-8B-Instruct-Turbo").output.startswith(
        "[emulated]"
    )
    assert _chat_models(kluster_emulator_env)[-1] == "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"


def test_the_hook_is_installed_once_and_leaves_other_strings_alone() -> None:
    from pydantic_ai import models

    from kluster_agents.adapters.pydantic_ai import _model_strings

    hooked = models.infer_model
    _model_strings.install(lambda model: TestModel())
    assert models.infer_model is hooked and hooked.__wrapped__.__module__ == "pydantic_ai.models"  # type: ignore[attr-defined]
    assert isinstance(models.infer_model("test"), TestModel)
    assert models.infer_model("openai-chat:gpt-4o").system == "openai"


def test_agent_with_a_kluster_string_and_the_capability(kluster_emulator_env: Any) -> None:
    agent = Agent("kluster:llama-3.3-70b", capabilities=[kluster_models()])
    result = agent.run_sync("Capital of Nepal?")
    assert result.output == "[emulated] reply to: Capital of Nepal?"
    assert _chat_models(kluster_emulator_env) == [LLAMA]  # alias resolved to the API name
    assert result.all_messages()[-1].provider_name == "kluster"


async def test_per_run_kluster_string_and_given_provider(kluster_emulator: Any) -> None:
    provider = KlusterProvider(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url)
    agent = Agent(TestModel(), capabilities=[kluster_models(provider)])
    result = await agent.run("hi", model="kluster:klusterai/Meta-Llama-3.1-8B-Instruct-Turbo")
    assert result.output == "[emulated] reply to: hi"
    assert _chat_models(kluster_emulator) == ["klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"]


def test_other_strings_are_left_to_pydantic_ai(kluster_emulator_env: Any) -> None:
    agent = Agent("test", capabilities=[kluster_models()])
    assert agent.run_sync("hi").output == "success (no tool calls)"
    assert _chat_models(kluster_emulator_env) == []


def test_agent_can_be_defined_before_the_key_exists() -> None:
    agent = Agent("kluster:llama-3.3-70b", capabilities=[kluster_models()])
    with pytest.raises(KlusterProviderError, match="KLUSTER_API_KEY"):
        agent.run_sync("hi")
