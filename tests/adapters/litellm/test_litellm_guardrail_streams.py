"""The Verify guardrail on streams (proxy hook and SDK wrapper) and on sync completions: chunks pass
through as they come, the whole answer is verified once at the end, the verdict is delivered."""

from __future__ import annotations

import litellm
import pytest

from kluster_agents.adapters.litellm import KlusterVerifyGuardrail, verify_outcome, verify_result
from kluster_agents.integrations._verify.policy import HallucinationDetected

from .conftest import LLAMA

MODEL = f"kluster/{LLAMA}"
QUESTION = [{"role": "user", "content": "Where is the Eiffel Tower?"}]
RIGHT = "The Eiffel Tower is in Paris."
WRONG = "The Eiffel Tower is in Rome."


def _verify_calls(emulator) -> int:
    return emulator.controls.count("/verify/reliability")


@pytest.fixture(autouse=True)
def _no_callbacks(monkeypatch):
    monkeypatch.setattr(litellm, "callbacks", [])


async def test_proxy_stream_hook_verifies_the_whole_answer_once(emulator):
    emulator.controls.script(RIGHT)
    guardrail = KlusterVerifyGuardrail()
    stream = await litellm.acompletion(model=MODEL, messages=QUESTION, stream=True)
    chunks = [c async for c in guardrail.async_post_call_streaming_iterator_hook(None, stream, {"messages": QUESTION})]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == RIGHT
    assert _verify_calls(emulator) == 1
    verdict = chunks[-1].kluster_verify
    assert verdict["status"] == "reliable" and verify_result(chunks[-1]).is_hallucination is False


async def test_proxy_stream_hook_raises_the_policys_error_at_the_end(emulator):
    emulator.controls.script(WRONG)
    guardrail = KlusterVerifyGuardrail(on_hallucination="raise")
    stream = await litellm.acompletion(model=MODEL, messages=QUESTION, stream=True)
    seen: list[str] = []
    with pytest.raises(HallucinationDetected):
        async for chunk in guardrail.async_post_call_streaming_iterator_hook(None, stream, {"messages": QUESTION}):
            seen.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "Rome" in "".join(seen)  # everything but the held last chunk went out before the verdict
    assert _verify_calls(emulator) == 1


def test_sdk_stream_wrapper_passes_chunks_and_attaches_the_verdict(emulator):
    emulator.controls.script(RIGHT)
    guardrail = KlusterVerifyGuardrail()
    stream = guardrail.verify_stream(litellm.completion(model=MODEL, messages=QUESTION, stream=True), QUESTION)
    text = ""
    for chunk in stream:
        text += chunk.choices[0].delta.content or ""
        assert _verify_calls(emulator) == 0  # nothing is held back for the check
    assert text == RIGHT and _verify_calls(emulator) == 1
    assert verify_outcome(stream).status == "reliable"


async def test_sdk_async_stream_wrapper_raises_at_the_end(emulator):
    emulator.controls.script(WRONG)
    guardrail = KlusterVerifyGuardrail(on_hallucination="retry", max_retries=2)  # a stream cannot be retried
    stream = guardrail.verify_stream(await litellm.acompletion(model=MODEL, messages=QUESTION, stream=True), QUESTION)
    with pytest.raises(HallucinationDetected):
        async for _ in stream:
            pass
    assert _verify_calls(emulator) == 1


def test_sync_completion_is_verified_and_retried(emulator):
    emulator.controls.script(WRONG, RIGHT)
    guardrail = KlusterVerifyGuardrail(on_hallucination="retry", max_retries=1)
    response = litellm.completion(model=MODEL, messages=QUESTION)
    checked = guardrail.verify_completion({"model": MODEL, "messages": QUESTION}, response)
    assert checked.choices[0].message.content == RIGHT
    assert verify_outcome(checked).status == "reliable" and _verify_calls(emulator) == 2
