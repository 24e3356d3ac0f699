"""`kluster` as a provider of LangChain's `init_chat_model` and `create_agent` model strings,
after `import kluster_agents.adapters.langchain`."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.chat_models import init_chat_model

import kluster_agents.adapters.langchain  # noqa: F401  (registers the provider)
from kluster_agents.adapters.langchain import ChatKluster

NEMO = "mistralai/Mistral-Nemo-Instruct-2407"


@pytest.fixture
def emulator_env(kluster_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("KLUSTER_API_KEY", kluster_emulator.api_key)
    monkeypatch.setenv("KLUSTER_BASE_URL", kluster_emulator.base_url)
    return kluster_emulator


def test_provider_prefixed_model_string(emulator_env: Any) -> None:
    model = init_chat_model(f"kluster:{NEMO}", temperature=0)
    assert isinstance(model, ChatKluster) and model.model_name == NEMO and model.temperature == 0
    assert model.invoke("hi").text == "[emulated] reply to: hi"


def test_model_provider_argument(emulator_env: Any) -> None:
    model = init_chat_model("deepseek-ai/DeepSeek-R1-0528", model_provider="kluster")
    assert isinstance(model, ChatKluster) and model.model_name == "deepseek-ai/DeepSeek-R1-0528"


def test_create_agent_with_a_kluster_model_string(emulator_env: Any) -> None:
    agent = create_agent(f"kluster:{NEMO}", tools=[])
    state = agent.invoke({"messages": [{"role": "user", "content": "hi"}]})
    assert state["messages"][-1].text == "[emulated] reply to: hi"
