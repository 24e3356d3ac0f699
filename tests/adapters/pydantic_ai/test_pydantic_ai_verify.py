"""verify_output_validator: Verify's explanation drives pydantic-ai's retry loop; outages per policy."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model, verify_output_validator
from kluster_agents.integrations import KlusterVerifyError
from kluster_agents.integrations._verify.policy import HallucinationDetected, VerifyPolicy
from kluster_agents.integrations.emulator._model.replies import ToolCall

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
POLICY_DOC = "Employees may work remotely 2 days per week."
WRONG = "Employees may work remotely 5 days per week."
RIGHT = "Employees may work remotely 2 days per week."


@dataclass
class Docs:
    context: str


def bodies(emulator, path: str) -> list[dict]:
    return [r.body for r in emulator.controls.requests if r.path == path]


def verified_agent(emulator, policy: VerifyPolicy, **agent_kwargs) -> Agent:
    settings = emulator.settings.model_copy(update={"max_retries": 0})
    agent = Agent(kluster_model(LLAMA, provider=KlusterProvider(settings=settings)), retries=3, **agent_kwargs)
    agent.output_validator(verify_output_validator(policy))
    return agent


def policy_for(emulator, **kwargs) -> VerifyPolicy:
    return VerifyPolicy(settings=emulator.settings.model_copy(update={"max_retries": 0}), **kwargs)


def test_hallucination_is_retried_with_verify_explanation(kluster_emulator) -> None:
    kluster_emulator.controls.script(WRONG, RIGHT)
    policy = policy_for(kluster_emulator)
    agent = verified_agent(kluster_emulator, policy, deps_type=Docs, metadata={})
    result = agent.run_sync("How many remote days are allowed?", deps=Docs(POLICY_DOC))
    assert result.output == RIGHT
    first, second = bodies(kluster_emulator, "/v1/verify/reliability")
    assert first["context"] == POLICY_DOC and first["output"] == WRONG and second["output"] == RIGHT
    retry_turn = json.dumps(bodies(kluster_emulator, "/v1/chat/completions")[1]["messages"])
    explanation = policy.report  # flagged once, then reliable
    assert (explanation.checked, explanation.flagged, explanation.retries) == (2, 1, 1)
    assert "Verify flagged your previous answer" in retry_turn and "[emulated]" in retry_turn
    assert result.metadata["kluster_verify"]["status"] == "reliable"


def test_context_from_retrieved_documents(kluster_emulator) -> None:
    kluster_emulator.controls.script(ToolCall("fetch_policy", {}), WRONG, RIGHT)
    agent = verified_agent(kluster_emulator, policy_for(kluster_emulator))

    @agent.tool_plain
    def fetch_policy() -> str:
        """The remote-work policy."""
        return POLICY_DOC

    assert agent.run_sync("How many remote days are allowed?").output == RIGHT
    checks = bodies(kluster_emulator, "/v1/verify/reliability")
    assert [c["context"] for c in checks] == [POLICY_DOC, POLICY_DOC]


def test_raise_policy(kluster_emulator) -> None:
    kluster_emulator.controls.script(WRONG)
    agent = verified_agent(kluster_emulator, policy_for(kluster_emulator, on_hallucination="raise"), deps_type=str)
    with pytest.raises(HallucinationDetected) as info:
        agent.run_sync("How many remote days?", deps=POLICY_DOC)
    assert info.value.result.is_hallucination is True


def test_retries_are_bounded(kluster_emulator) -> None:
    kluster_emulator.controls.script(WRONG, WRONG, WRONG)
    agent = verified_agent(kluster_emulator, policy_for(kluster_emulator, max_retries=1), deps_type=str)
    with pytest.raises(HallucinationDetected):
        agent.run_sync("How many remote days?", deps=POLICY_DOC)
    assert len(bodies(kluster_emulator, "/v1/chat/completions")) == 2


def test_outage_fails_closed(kluster_emulator) -> None:
    kluster_emulator.controls.fail(503, times=None, path="/v1/verify")
    agent = verified_agent(kluster_emulator, policy_for(kluster_emulator), deps_type=str)
    with pytest.raises(KlusterVerifyError, match="fail_closed"):
        agent.run_sync("How many remote days?", deps=POLICY_DOC)


def test_outage_marked_unverified(kluster_emulator) -> None:
    kluster_emulator.controls.fail(503, times=None, path="/v1/verify")
    kluster_emulator.controls.script(WRONG)
    policy = policy_for(kluster_emulator, on_error="mark_unverified")
    agent = verified_agent(kluster_emulator, policy, deps_type=str, metadata={})
    result = agent.run_sync("How many remote days?", deps=POLICY_DOC)
    assert result.output == WRONG
    assert result.metadata["kluster_verify"]["status"] == "unverified" and policy.report.unverified == 1


def test_no_context_checks_against_the_web(kluster_emulator) -> None:
    kluster_emulator.controls.script("The Great Wall of China is visible from space.", "It is not visible.")
    agent = verified_agent(kluster_emulator, policy_for(kluster_emulator))
    assert agent.run_sync("Is the Great Wall visible from space?").output == "It is not visible."
    assert all("context" not in c or c["context"] is None for c in bodies(kluster_emulator, "/v1/verify/reliability"))
