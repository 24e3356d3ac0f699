"""Verify-aware pieces against the emulator's Verify (a labelled heuristic: with context it
flags numbers and names the context lacks)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate

from kluster_agents.adapters.langchain import (
    ChatKluster,
    KlusterVerifyCallbackHandler,
    KlusterVerifyTool,
    with_verification,
)
from kluster_agents.integrations import HallucinationDetected, VerifyPolicy
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError, KlusterVerifyError

CONTEXT = [
    Document(page_content="The Eiffel Tower is 330 metres tall."),
    Document(page_content="It was completed in 1889 in Paris."),
]
WRONG = "The Eiffel Tower is 450 metres tall."
RIGHT = "The Eiffel Tower is 330 metres tall."


def rag_chain(emulator: Any) -> Any:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer only from this context:\n{context}"), ("human", "{question}")]
    )
    llm = ChatKluster(api_key=emulator.api_key, base_url=emulator.base_url)
    return prompt | llm


def settings_of(emulator: Any) -> Any:
    return emulator.settings


def verify_calls(emulator: Any) -> int:
    return sum(r.path.endswith("/verify/reliability") for r in emulator.controls.requests)


def test_retry_on_hallucination_then_pass(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(WRONG, RIGHT)
    policy = VerifyPolicy(on_hallucination="retry", max_retries=2, settings=settings_of(kluster_emulator))
    chain = with_verification(rag_chain(kluster_emulator), policy, context="context")
    answer = chain.invoke({"question": "How tall is the Eiffel Tower?", "context": CONTEXT})
    assert answer.text == RIGHT
    meta = answer.response_metadata["kluster_verify"]
    assert meta["status"] == "reliable" and meta["retries"] == 1 and meta["emulated"]
    assert verify_calls(kluster_emulator) == 2
    second = [r.body for r in kluster_emulator.controls.requests if r.path.endswith("/chat/completions")][1]
    assert "flagged your previous answer" in second["messages"][-1]["content"]  # Verify's explanation fed back
    assert policy.report.flagged == 1 and policy.report.retries == 1


def test_raise_policy(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(WRONG)
    policy = VerifyPolicy(on_hallucination="raise", settings=settings_of(kluster_emulator))
    chain = with_verification(rag_chain(kluster_emulator), policy, context="context")
    with pytest.raises(HallucinationDetected) as err:
        chain.invoke({"question": "How tall?", "context": CONTEXT})
    assert "450" in err.value.result.explanation


async def test_exhausted_retries_annotate_async(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(WRONG, WRONG)
    policy = VerifyPolicy(max_retries=1, on_exhausted="annotate", settings=settings_of(kluster_emulator))
    chain = with_verification(rag_chain(kluster_emulator), policy, context="context")
    answer = await chain.ainvoke({"question": "How tall?", "context": CONTEXT})
    assert answer.text == WRONG
    assert answer.response_metadata["kluster_verify"]["status"] == "hallucination"


def test_outage_fails_closed_or_marks_unverified(kluster_emulator: Any) -> None:
    chain_input = {"question": "How tall?", "context": CONTEXT}
    kluster_emulator.controls.fail(503, times=None, path="/v1/verify/reliability")
    closed = VerifyPolicy(settings=settings_of(kluster_emulator))
    closed.client.retry_backoff = 0
    with pytest.raises(KlusterVerifyError, match="fail_closed"):
        with_verification(rag_chain(kluster_emulator), closed, context="context").invoke(chain_input)
    marked = VerifyPolicy(on_error="mark_unverified", settings=settings_of(kluster_emulator))
    marked.client.retry_backoff = 0
    answer = with_verification(rag_chain(kluster_emulator), marked, context="context").invoke(chain_input)
    assert answer.response_metadata["kluster_verify"]["status"] == "unverified"


def test_plain_model_input_with_feedback_as_messages(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script("The earth is flat, definitely.", "The earth is roughly spherical.")
    llm = ChatKluster(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url)
    answer = with_verification(llm, VerifyPolicy(settings=settings_of(kluster_emulator))).invoke("Shape of the earth?")
    assert answer.text == "The earth is roughly spherical."
    last = [r.body for r in kluster_emulator.controls.requests if r.path.endswith("/chat/completions")][-1]
    assert [m["role"] for m in last["messages"]] == ["user", "assistant", "user"]


def test_missing_prompt_key_is_a_clear_error(kluster_emulator: Any) -> None:
    chain = with_verification(rag_chain(kluster_emulator), VerifyPolicy(), context="context")
    with pytest.raises(KlusterInvalidRequestError, match="prompt_key"):
        chain.invoke({"text": "x", "context": CONTEXT})
    assert kluster_emulator.controls.count() == 0


def test_callback_handler_records_final_answers_only(kluster_emulator: Any) -> None:
    from langchain_core.tools import tool

    @tool
    def lookup(city: str) -> str:
        """Look a city up."""
        return "Paris has 2 million inhabitants."

    kluster_emulator.controls.script("It is always sunny in Paris, guaranteed.")
    handler = KlusterVerifyCallbackHandler(
        VerifyPolicy(on_hallucination="annotate", settings=settings_of(kluster_emulator))
    )
    llm = ChatKluster(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url)
    llm.invoke("Weather in Paris?", config={"callbacks": [handler]})
    llm.bind_tools([lookup]).invoke("Look up Paris", config={"callbacks": [handler]})  # a tool call: not checked
    [record] = handler.records
    assert record.prompt == "Weather in Paris?" and record.status == "hallucination"
    assert handler.flagged == [record]


def test_verify_tool(kluster_emulator: Any) -> None:
    tool = KlusterVerifyTool(settings=settings_of(kluster_emulator))
    message = tool.invoke(
        {
            "type": "tool_call",
            "id": "c1",
            "name": tool.name,
            "args": {"prompt": "How tall?", "output": WRONG, "context": CONTEXT[0].page_content},
        }
    )
    assert message.content.startswith("hallucination:") and message.artifact.is_hallucination
    assert tool.invoke({"prompt": "How tall?", "output": RIGHT, "context": CONTEXT[0].page_content}).startswith(
        "reliable:"
    )


async def test_verify_tool_async(kluster_emulator: Any) -> None:
    tool = KlusterVerifyTool(settings=settings_of(kluster_emulator))
    text = await tool.ainvoke({"prompt": "Shape?", "output": "The earth is flat."})
    assert text.startswith("hallucination:")


def test_stream_passes_chunks_through_then_delivers_the_verdict(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(RIGHT)
    policy = VerifyPolicy(settings=settings_of(kluster_emulator))
    chain = with_verification(rag_chain(kluster_emulator), policy, context="context")
    seen_before_verify: list[int] = []
    chunks = []
    for chunk in chain.stream({"question": "How tall is the Eiffel Tower?", "context": CONTEXT}):
        seen_before_verify.append(verify_calls(kluster_emulator))
        chunks.append(chunk)
    assert len([c for c in chunks if c.text]) > 1 and seen_before_verify[1] == 0  # streamed before Verify ran
    assert "".join(c.text for c in chunks) == RIGHT
    assert "kluster_verify" not in chunks[0].response_metadata
    assert chunks[-1].response_metadata["kluster_verify"]["status"] == "reliable"
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole += chunk
    assert whole.response_metadata["kluster_verify"]["status"] == "reliable" and verify_calls(kluster_emulator) == 1


async def test_astream_raises_the_policy_error_at_the_end(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(WRONG)
    policy = VerifyPolicy(on_hallucination="raise", settings=settings_of(kluster_emulator))
    chain = with_verification(rag_chain(kluster_emulator), policy, context="context")
    texts: list[str] = []
    with pytest.raises(HallucinationDetected):
        async for chunk in chain.astream({"question": "How tall is the Eiffel Tower?", "context": CONTEXT}):
            texts.append(chunk.text)
    assert "".join(texts) == WRONG  # the whole answer streamed before the verdict


def test_stream_of_a_flagged_answer_is_annotated_not_retried(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script(WRONG, RIGHT)
    policy = VerifyPolicy(on_hallucination="retry", on_exhausted="annotate", settings=settings_of(kluster_emulator))
    chain = with_verification(rag_chain(kluster_emulator), policy, context="context")
    chunks = list(chain.stream({"question": "How tall is the Eiffel Tower?", "context": CONTEXT}))
    assert "".join(c.text for c in chunks) == WRONG
    assert chunks[-1].response_metadata["kluster_verify"]["status"] == "hallucination"


def test_batch_of_a_batch_model_is_one_job_then_verified(kluster_emulator: Any) -> None:
    llm = ChatKluster(api_key=kluster_emulator.api_key, base_url=kluster_emulator.base_url, batch=True)
    policy = VerifyPolicy(on_hallucination="annotate", settings=settings_of(kluster_emulator))
    answers = with_verification(llm, policy).batch(["What is 2 + 2?", "Name a colour."])
    assert [a.response_metadata["kluster_verify"]["status"] for a in answers] == ["reliable", "reliable"]
    paths = [r.path for r in kluster_emulator.controls.requests]
    assert not any(p.endswith("/chat/completions") for p in paths) and paths.count("/v1/batches") == 1
    assert verify_calls(kluster_emulator) == 2
