"""Fine-tuning to a usable model, Verify (endpoint and chat completion), MCP management and a
real MCP client session calling `verify` and `verify_document`."""

from __future__ import annotations

import io
import json

import httpx
import openai
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from kluster_agents.integrations.emulator._control.controls import JobTiming

from .helpers import LLAMA_8B, WEATHER_TOOL, user

# The phase lengths the fine-tuning tests step through with `advance()`, set explicitly.
STEPPED = JobTiming(finetune_validating=30, finetune_queued=60, finetune_per_step=1, cancelling=30)

VERIFY_MODEL = "klusterai/verify-reliability"


def _training_file(client: openai.OpenAI, text: str | None = None) -> str:
    data = (
        text
        if text is not None
        else "\n".join(
            json.dumps({"messages": [*user(f"q{i}"), {"role": "assistant", "content": f"a{i}"}]}) for i in range(5)
        )
    )
    return client.files.create(file=("train.jsonl", io.BytesIO(data.encode())), purpose="fine-tune").id


def test_fine_tuning_observed_defaults_and_step_events(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    controls.set_timing(STEPPED)
    job = client.fine_tuning.jobs.create(training_file=_training_file(client), model=LLAMA_8B)
    assert job.status == "validating_files"
    assert job.hyperparameters.model_dump(exclude_none=True) == {
        "batch_size": 1,
        "learning_rate_multiplier": 1.0,
        "n_epochs": 10,
    }
    extra = job.model_dump()
    assert extra["labels"] == [] and extra["metrics"] == {} and extra["metadata"] is None
    controls.advance(30)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "queued"
    controls.advance(60 + 3)  # running, three steps done
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    steps = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100) if e.message.startswith("Step")]
    assert steps[0].startswith("Step 3/50: training loss=") and len(steps) == 3
    controls.advance(50)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded"
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert messages[:3] == [
        "The job has successfully completed",
        f"New fine-tuned model created: {job.fine_tuned_model}",
        "Checkpoint created at step 50",
    ]
    assert "Files validated, moving job to queued state" in messages


@pytest.mark.kluster_emulator(mode="docs-strict")
def test_fine_tuning_produces_usable_model(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    controls.set_timing(STEPPED)
    job = client.fine_tuning.jobs.create(
        training_file=_training_file(client),
        model="meta-llama/Meta-Llama-3.1-8B-Instruct",
        hyperparameters={"n_epochs": 2},
    )
    assert job.status == "queued" and job.model == "meta-llama/Llama-3.1-8B-Instruct"
    controls.advance(60)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    controls.advance(30)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    controls.advance(600)  # 5 examples / batch size 4 x 2 epochs = 4 steps
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded" and job.trained_tokens and job.finished_at
    assert job.fine_tuned_model.startswith("ft:meta-llama:Llama-3.1-8B-Instruct:personal:")
    assert job.fine_tuned_model in [m.id for m in client.models.list()]
    reply = client.chat.completions.create(
        model=job.fine_tuned_model, messages=user("What is the weather in Oslo?"), tools=[WEATHER_TOOL]
    )
    assert reply.choices[0].message.tool_calls  # inherits the base model's tool support
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id)]
    assert messages[0] == "The job has successfully completed" and messages[-1].startswith("Created fine-tuning job")
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]


def test_fine_tuning_cancel_and_failures(client: openai.OpenAI, controls) -> None:
    controls.clock.freeze()
    controls.set_timing(STEPPED)
    job = client.fine_tuning.jobs.create(training_file=_training_file(client), model=LLAMA_8B)
    assert client.fine_tuning.jobs.cancel(job.id, extra_body={}).status == "cancelling"
    controls.advance(30)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    bad = client.fine_tuning.jobs.create(training_file=_training_file(client, "not json"), model=LLAMA_8B)
    controls.advance(100)
    bad = client.fine_tuning.jobs.retrieve(bad.id)
    assert bad.status == "failed" and bad.error.code == "invalid_training_file"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(training_file=_training_file(client), model="google/gemma-3-27b-it")
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("nope")


def _verify(kluster_emulator, **body) -> httpx.Response:
    return httpx.post(
        f"{kluster_emulator.base_url}/verify/reliability",
        json=body,
        headers={"Authorization": f"Bearer {kluster_emulator.api_key}"},
    )


def test_verify_reliability_recorded_and_heuristic(kluster_emulator) -> None:
    recorded = _verify(
        kluster_emulator, prompt="Where is the Eiffel Tower?", output="The Eiffel Tower is located in Rome."
    ).json()
    assert recorded["is_hallucination"] is True and set(recorded) >= {"explanation", "search_results", "usage"}
    ok = _verify(
        kluster_emulator,
        prompt="Invoice date?",
        output="The date is 22May25 for Acme",
        context="InvID:INV7701B Client:Acme Date:22May25",
    ).json()
    assert ok["is_hallucination"] is False and ok["explanation"].startswith("[emulated]")
    bad = _verify(
        kluster_emulator,
        prompt="Invoice amount?",
        output="The amount is 9999 EUR for Globex",
        context="InvID:INV7701B Client:Acme Amt:7116GBP",
        return_search_results=True,
    ).json()
    assert bad["is_hallucination"] is True and "9999" in bad["explanation"] and bad["search_results"]
    plain = _verify(kluster_emulator, prompt="What is water made of?", output="Hydrogen and oxygen.").json()
    assert plain["is_hallucination"] is False
    assert _verify(kluster_emulator, prompt="x").status_code == 400


def test_verify_via_chat_completion_fails_like_the_service_for_the_documented_shape(client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "You are a knowledgeable assistant."},
        {"role": "user", "content": "Where is the Eiffel Tower?"},
        {"role": "assistant", "content": "The Eiffel Tower is located in Rome."},
    ]
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=VERIFY_MODEL, messages=messages)
    assert info.value.response.json()["error"]["errorCode"] == 4000


@pytest.mark.kluster_emulator(mode="docs-strict")
def test_verify_via_chat_completion(client: openai.OpenAI) -> None:
    def check(answer: str) -> dict:
        completion = client.chat.completions.create(
            model=VERIFY_MODEL,
            messages=[
                {"role": "system", "content": "You are a knowledgeable assistant."},
                {"role": "user", "content": "Where is the Eiffel Tower?"},
                {"role": "assistant", "content": answer},
            ],
        )
        return json.loads(completion.choices[0].message.content)

    recorded = check("The Eiffel Tower is located in Rome.")  # the documented example's answer
    assert recorded["is_hallucination"] is True and "Paris" in recorded["explanation"]
    heuristic = check("It is definitely in London.")
    assert heuristic["is_hallucination"] is True and heuristic["explanation"].startswith("[emulated]")
    assert check("In Paris, France.")["is_hallucination"] is False


async def test_mcp_management_and_client_session(kluster_emulator) -> None:
    headers = {"Authorization": f"Bearer {kluster_emulator.api_key}"}
    base = kluster_emulator.base_url
    async with httpx.AsyncClient(headers=headers) as http:
        assert (await http.get(f"{base}/mcp/status")).json()["enabled"] is False
        enabled = (await http.post(f"{base}/mcp/enable")).json()
        token = enabled["token"]
        assert enabled["url"] == f"{base}/mcp"
        status = (await http.get(f"{base}/mcp/status")).json()
        assert status["enabled"] is True
        assert (await http.post(f"{base}/mcp", json={})).status_code == 401  # the API key is not the MCP token

    mcp_http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    async with mcp_http, streamable_http_client(enabled["url"], http_client=mcp_http) as (r, w, _):
        async with ClientSession(r, w) as session:
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert set(tools) == {"verify", "verify_document"}
            assert set(tools["verify_document"].inputSchema["required"]) == {"prompt", "response", "documentContent"}
            result = await session.call_tool(
                "verify",
                {
                    "prompt": "Is the Great Wall of China visible from space?",
                    "response": "Yes, it is visible from space with the naked eye.",
                },
            )
            verdict = result.structuredContent
            assert verdict["is_hallucination"] is True
            # the documented tool fields, plus the emulator's own marker
            assert set(verdict) == {
                "prompt",
                "response",
                "is_hallucination",
                "explanation",
                "confidence",
                "search_results",
                "kluster_emulated",
            }
            doc = await session.call_tool(
                "verify_document",
                {
                    "prompt": "Remote work?",
                    "response": "Remote work is allowed 2 days per week.",
                    "documentContent": "Section 4.2: on-site work at least 3 days per week.",
                    "returnSearchResults": False,
                },
            )
            assert doc.structuredContent["is_hallucination"] is True and doc.structuredContent["search_results"] == []

    async with httpx.AsyncClient(headers=headers) as http:
        assert (await http.post(f"{base}/mcp/disable")).json()["enabled"] is False
        refused = await http.post(f"{base}/mcp", headers={"Authorization": f"Bearer {token}"}, json={})
        assert refused.status_code == 401
    assert token not in repr(kluster_emulator.controls.requests)
