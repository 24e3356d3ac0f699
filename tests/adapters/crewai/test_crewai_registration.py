"""After `import kluster_agents.adapters.crewai`, "kluster" is a CrewAI provider name: model strings
build our `KlusterCompletion` (not LiteLLM's fallback) and `{"provider": "kluster"}` embedders work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from crewai import LLM, Agent, Crew, Process, Task
from crewai.knowledge.knowledge import Knowledge
from crewai.project import CrewBase, agent, crew, task
from crewai.rag.embeddings.factory import build_embedder
from pydantic import ValidationError

import kluster_agents.adapters.crewai  # noqa: F401  (the documented import that registers "kluster")
from kluster_agents.adapters.crewai import KlusterCompletion, KlusterEmbeddingFunction, kluster_embedder_config
from kluster_agents.integrations._api.errors import KlusterConfigError

TOOL_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


def _chat_models(emulator: Any) -> list[str]:
    return [r.body["model"] for r in emulator.controls.requests if r.path.endswith("/chat/completions")]


@pytest.mark.parametrize(
    ("model", "extra"),
    [("kluster/llama-3.3-70b", {}), (f"kluster/{TOOL_MODEL}", {}), ("llama-3.3-70b", {"provider": "kluster"})],
)
def test_llm_with_a_kluster_model_string_is_our_llm(kluster_emulator_env: Any, model: str, extra: dict) -> None:
    llm = LLM(model=model, temperature=0.3, **extra)
    assert isinstance(llm, KlusterCompletion)
    assert llm.model == TOOL_MODEL and llm.temperature == 0.3
    assert llm.call("Say hello").startswith("[emulated]")
    assert _chat_models(kluster_emulator_env) == [TOOL_MODEL]


def test_a_kluster_model_string_without_a_key_is_our_typed_error() -> None:
    with pytest.raises(KlusterConfigError, match="KLUSTER_API_KEY"):  # not CrewAI's ImportError wrapper
        LLM(model="kluster/llama-3.3-70b")


def test_other_model_strings_route_as_before() -> None:
    assert type(LLM(model="openai/gpt-4o", api_key="sk-x")).__name__ == "OpenAICompletion"
    assert not isinstance(LLM(model="kluster/llama-3.3-70b", is_litellm=True), KlusterCompletion)


def test_agent_llm_string_runs_a_crew_on_kluster(kluster_emulator_env: Any) -> None:
    writer = Agent(role="Writer", goal="Write", backstory="Brief.", llm="kluster/llama-3.3-70b")
    assert isinstance(writer.llm, KlusterCompletion)
    task = Task(description="Describe tea.", expected_output="One line", agent=writer)
    assert Crew(agents=[writer], tasks=[task]).kickoff().raw.startswith("[emulated]")
    assert _chat_models(kluster_emulator_env) == [TOOL_MODEL]


def test_a_yaml_configured_crew_uses_our_llm(kluster_emulator_env: Any, tmp_path: Path) -> None:
    (tmp_path / "agents.yaml").write_text(
        "writer:\n  role: Writer\n  goal: Write taglines\n  backstory: Brief.\n  llm: kluster/llama-3.3-70b\n"
    )
    (tmp_path / "tasks.yaml").write_text(
        "tagline:\n  description: Write a tagline for {product}.\n  expected_output: One line\n  agent: writer\n"
    )

    @CrewBase
    class TaglineCrew:
        agents_config = str(tmp_path / "agents.yaml")
        tasks_config = str(tmp_path / "tasks.yaml")
        agents: list[Any]
        tasks: list[Any]

        @agent
        def writer(self) -> Agent:
            return Agent(config=self.agents_config["writer"])  # type: ignore[index]

        @task
        def tagline(self) -> Task:
            return Task(config=self.tasks_config["tagline"])  # type: ignore[index]

        @crew
        def crew(self) -> Crew:
            return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential)

    built = TaglineCrew().crew()
    assert isinstance(built.agents[0].llm, KlusterCompletion)
    assert "tagline for tea" in built.kickoff(inputs={"product": "tea"}).raw
    assert _chat_models(kluster_emulator_env) == [TOOL_MODEL]


# -- the "kluster" embedder provider ---------------------------------------------------------------


def test_kluster_embedder_dict_builds_our_embedding_function(kluster_emulator_env: Any) -> None:
    spec = {"provider": "kluster", "config": {"model_name": "bge-m3"}}
    embedder = build_embedder(spec)  # type: ignore[arg-type]
    assert isinstance(embedder, KlusterEmbeddingFunction) and embedder.model_name == "BAAI/bge-m3"
    assert len(embedder(["x"])[0]) == 1024
    assert kluster_embedder_config("bge-m3") == {"provider": "kluster", "config": {"model_name": "BAAI/bge-m3"}}


def test_crews_agents_and_knowledge_accept_the_kluster_embedder_dict(kluster_emulator_env: Any) -> None:
    spec = {"provider": "kluster", "config": {}}
    writer = Agent(role="Writer", goal="Write", backstory="Brief.", llm="kluster/llama-3.3-70b", embedder=spec)
    crew_ = Crew(agents=[writer], tasks=[Task(description="d", expected_output="e", agent=writer)], embedder=spec)
    assert crew_.embedder == spec and writer.embedder == spec
    # nothing is added: CrewAI's vector store lives under ~/.local/share, shared by every run
    knowledge = Knowledge(collection_name="kluster_spec", sources=[], embedder=spec)
    embed = knowledge.storage._client.embedding_function  # type: ignore[union-attr]
    assert isinstance(embed, KlusterEmbeddingFunction)
    assert len(embed(["How do plants use light?"])[0]) == 1024
    assert any(r.path == "/v1/embeddings" for r in kluster_emulator_env.controls.requests)


def test_unknown_embedder_providers_are_still_refused() -> None:
    with pytest.raises(ValidationError):
        Crew(agents=[], tasks=[], embedder={"provider": "no-such-provider", "config": {}})
