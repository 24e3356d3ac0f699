"""`KlusterVerifyGuardrail` on real crews against the emulator's Verify (its heuristic flags names and
numbers of the answer that the context does not contain)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from crewai import Task
from crewai.tasks.task_output import TaskOutput

from kluster_agents.adapters.crewai import KlusterVerifyGuardrail
from kluster_agents.adapters.crewai._verify import conversation_context, tool_results
from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterVerifyError
from kluster_agents.integrations._api.settings import resolve_settings
from kluster_agents.integrations._verify.policy import HallucinationDetected, VerifyPolicy

REFERENCE = "The Eiffel Tower in Paris was completed in 1889 and is 330 metres tall."
WRONG = "The Eiffel Tower was completed in 1887."
RIGHT = "The Eiffel Tower was completed in 1889."


@pytest.fixture
def policy_for(emu_settings: Any) -> Any:
    def build(**options: Any) -> VerifyPolicy:
        return VerifyPolicy(settings=resolve_settings(emu_settings, max_retries=0), **options)

    return build


def _reference(_: TaskOutput) -> str:
    return REFERENCE


def test_flagged_answer_is_retried_with_verify_feedback_then_passes(
    make_llm: Any, crew_of: Any, policy_for: Any, kluster_emulator: Any, chat_bodies: Any
) -> None:
    kluster_emulator.controls.script(f"Final Answer: {WRONG}", f"Final Answer: {RIGHT}")
    guardrail = KlusterVerifyGuardrail(policy_for(), context=_reference)
    result = crew_of(make_llm(), guardrail=guardrail, description="When was the Eiffel Tower completed?").kickoff()

    assert result.raw == RIGHT
    assert [o.action for o in guardrail.outcomes] == ["retry", "pass"]
    assert kluster_emulator.controls.count("/verify/reliability") == 2
    retry_prompt = json.dumps(chat_bodies()[1]["messages"])
    assert "kluster.ai Verify flagged your previous answer" in retry_prompt
    assert "1887" in retry_prompt  # Verify's explanation names the unsupported claim
    assert guardrail.policy.report.flagged == 1 and guardrail.policy.report.retries == 1


def test_reliable_answer_passes_untouched(make_llm: Any, crew_of: Any, policy_for: Any, kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(f"Final Answer: {RIGHT}")
    guardrail = KlusterVerifyGuardrail(policy_for(), context=_reference)
    result = crew_of(make_llm(), guardrails=[guardrail]).kickoff()
    assert result.raw == RIGHT
    assert [o.status for o in guardrail.outcomes] == ["reliable"]


def test_retries_exhausted_raises_hallucination_detected(
    make_llm: Any, crew_of: Any, policy_for: Any, kluster_emulator: Any
) -> None:
    kluster_emulator.controls.script(f"Final Answer: {WRONG}", f"Final Answer: {WRONG} Really.")
    guardrail = KlusterVerifyGuardrail(policy_for(max_retries=1), context=_reference)
    with pytest.raises(HallucinationDetected, match="1887"):
        crew_of(make_llm(), guardrail=guardrail).kickoff()


def test_annotate_lets_the_answer_through_with_a_label(
    make_llm: Any, crew_of: Any, policy_for: Any, kluster_emulator: Any
) -> None:
    kluster_emulator.controls.script(f"Final Answer: {WRONG}")
    guardrail = KlusterVerifyGuardrail(policy_for(on_hallucination="annotate"), context=_reference)
    result = crew_of(make_llm(), guardrail=guardrail).kickoff()
    assert result.raw.startswith(WRONG)
    assert "[kluster.ai Verify: flagged as possibly unreliable." in result.raw


def test_verify_outage_fails_closed_by_default(
    make_llm: Any, crew_of: Any, policy_for: Any, kluster_emulator: Any
) -> None:
    kluster_emulator.controls.script(f"Final Answer: {RIGHT}")
    kluster_emulator.controls.fail(503, times=None, path="/v1/verify/reliability")
    with pytest.raises(KlusterVerifyError, match="fail_closed"):
        crew_of(make_llm(), guardrail=KlusterVerifyGuardrail(policy_for(), context=_reference)).kickoff()


def test_verify_outage_marked_unverified_passes_with_a_label(
    make_llm: Any, crew_of: Any, policy_for: Any, kluster_emulator: Any
) -> None:
    kluster_emulator.controls.script(f"Final Answer: {RIGHT}")
    kluster_emulator.controls.fail(503, times=None, path="/v1/verify/reliability")
    guardrail = KlusterVerifyGuardrail(policy_for(on_error="mark_unverified"), context=_reference)
    result = crew_of(make_llm(), guardrail=guardrail).kickoff()
    assert result.raw.startswith(RIGHT)
    assert "[kluster.ai Verify: unverified." in result.raw
    assert [o.status for o in guardrail.outcomes] == ["unverified"]


def test_guardrail_satisfies_crewais_signature_check() -> None:
    task = Task(description="d", expected_output="e", guardrail=KlusterVerifyGuardrail())
    assert task.guardrail is not None
    with pytest.raises(KlusterConfigError, match="context must"):
        KlusterVerifyGuardrail(context="everything")  # type: ignore[arg-type]


def test_context_sources_read_native_tool_results_and_react_observations() -> None:
    output = TaskOutput(
        description="q",
        raw="a",
        agent="x",
        messages=[
            {"role": "system", "content": "You are x."},
            {"role": "user", "content": "Task: q"},
            {"role": "assistant", "content": "", "tool_calls": []},
            {"role": "tool", "tool_call_id": "1", "content": "native result"},
            {
                "role": "assistant",
                "content": "Thought: t\nAction: a\nAction Input: {}\nObservation: react result\nThought: done",
            },
        ],
    )
    assert tool_results(output) == ["native result", "react result"]
    assert conversation_context(output) == "Task: q\n\nnative result"
