"""`KlusterVerifyGuardrail` on the SDK path (acompletion) and the proxy hook."""

from __future__ import annotations

import litellm
import pytest
from fastapi import HTTPException

from kluster_agents.adapters.litellm import KlusterVerifyGuardrail, verify_result
from kluster_agents.integrations import KlusterVerifyError
from kluster_agents.integrations._verify.policy import HallucinationDetected, VerifyPolicy

from .conftest import LLAMA, chat_bodies

MODEL = f"kluster/{LLAMA}"
QUESTION = [{"role": "user", "content": "Where is the Eiffel Tower?"}]
WRONG, RIGHT = "The Eiffel Tower is in Rome.", "The Eiffel Tower is in Paris, France."


@pytest.fixture
def use_guardrail(monkeypatch):
    def install(guardrail: KlusterVerifyGuardrail) -> KlusterVerifyGuardrail:
        monkeypatch.setattr(litellm, "callbacks", [guardrail])
        return guardrail

    return install


async def test_flagged_answer_is_regenerated_with_feedback(emulator, use_guardrail):
    guardrail = use_guardrail(KlusterVerifyGuardrail(max_retries=2))
    emulator.controls.script(WRONG, RIGHT)
    response = await litellm.acompletion(model=MODEL, messages=QUESTION)
    assert response.choices[0].message.content == RIGHT
    assert verify_result(response).status == "reliable"
    retry = chat_bodies(emulator)[1]["messages"]
    assert retry[1] == {"role": "assistant", "content": WRONG}
    assert "Verify flagged your previous answer" in retry[2]["content"]
    assert guardrail.policy.report.flagged == 1 and emulator.controls.count("/verify/reliability") == 2


async def test_exhausted_retries_raise(emulator, use_guardrail):
    use_guardrail(KlusterVerifyGuardrail(max_retries=1))
    emulator.controls.script(WRONG, WRONG)
    with pytest.raises(HallucinationDetected):
        await litellm.acompletion(model=MODEL, messages=QUESTION)
    assert len(chat_bodies(emulator)) == 2


async def test_annotate_keeps_the_answer_and_labels_it(emulator, use_guardrail):
    use_guardrail(KlusterVerifyGuardrail(VerifyPolicy(on_hallucination="annotate")))
    emulator.controls.script(WRONG)
    response = await litellm.acompletion(model=MODEL, messages=QUESTION)
    assert response.choices[0].message.content == WRONG
    assert verify_result(response).status == "hallucination" and verify_result(response).emulated


async def test_verify_outage_fails_closed_or_marks_unverified(emulator, use_guardrail):
    use_guardrail(KlusterVerifyGuardrail(max_retries=0))
    emulator.controls.fail(503, times=None, path="/verify")
    with pytest.raises(KlusterVerifyError):
        await litellm.acompletion(model=MODEL, messages=QUESTION)
    use_guardrail(KlusterVerifyGuardrail(on_error="mark_unverified"))
    response = await litellm.acompletion(model=MODEL, messages=QUESTION)
    assert verify_result(response).status == "unverified"


async def test_context_comes_from_system_messages_and_streams_pass(emulator, use_guardrail):
    use_guardrail(KlusterVerifyGuardrail(on_hallucination="annotate"))
    messages = [{"role": "system", "content": "The tower is 330 metres tall."}, *QUESTION]
    emulator.controls.script("It is 330 metres tall.")
    response = await litellm.acompletion(model=MODEL, messages=messages)
    assert verify_result(response).status == "reliable"
    verify_body = next(r.body for r in emulator.controls.requests if r.path.endswith("/verify/reliability"))
    assert verify_body["context"] == "The tower is 330 metres tall."
    stream = await litellm.acompletion(model=MODEL, messages=QUESTION, stream=True)
    assert [c async for c in stream]
    assert emulator.controls.count("/verify/reliability") == 1  # streams carry no text to check


async def test_proxy_hook_blocks_with_http_400(emulator):
    guardrail = KlusterVerifyGuardrail(on_hallucination="raise")
    emulator.controls.script(WRONG)
    response = await litellm.acompletion(model=MODEL, messages=QUESTION)  # no callbacks installed here
    with pytest.raises(HTTPException) as caught:
        await guardrail.async_post_call_success_hook({"model": LLAMA, "messages": QUESTION}, None, response)
    assert caught.value.status_code == 400 and caught.value.detail["guardrail"] == "kluster-verify"


def test_policy_and_kwargs_are_exclusive():
    with pytest.raises(TypeError):
        KlusterVerifyGuardrail(VerifyPolicy(), on_error="mark_unverified")
    assert "kluster-verify" in repr(KlusterVerifyGuardrail(max_retries="3"))


async def test_router_does_not_fall_back_on_a_verify_rejection(emulator, use_guardrail):
    """A rejection reaches the caller with Verify's explanation (not "'HallucinationDetected' object
    has no setter"), and no other model is tried: its answer is not what Verify judged."""
    use_guardrail(KlusterVerifyGuardrail(max_retries=0))
    emulator.controls.script(WRONG, WRONG, WRONG)
    other = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
    router = litellm.Router(
        model_list=[
            {"model_name": "main", "litellm_params": {"model": MODEL}},
            {"model_name": "backup", "litellm_params": {"model": f"kluster/{other}"}},
        ],
        fallbacks=[{"main": ["backup"]}],
        num_retries=0,
    )
    with pytest.raises(HallucinationDetected) as info:
        await router.acompletion(model="main", messages=QUESTION)
    assert "Verify flagged the output" in str(info.value) and "no setter" not in str(info.value)
    assert [b["model"] for b in chat_bodies(emulator)] == [LLAMA]  # no fallback to the backup model


async def test_the_inspector_names_the_guardrail_as_the_origin_of_its_verify_calls(emulator, use_guardrail):
    from kluster_agents.integrations.emulator._inspector.request_view import framework_of

    use_guardrail(KlusterVerifyGuardrail())
    emulator.controls.script(RIGHT)
    await litellm.acompletion(model=MODEL, messages=QUESTION)
    origins = {r.path: framework_of(r.extra["user_agent"]) for r in emulator.controls.requests}
    assert origins == {"/v1/chat/completions": "LiteLLM", "/v1/verify/reliability": "LiteLLM guardrail"}
