"""Verify engine against the embedded emulator: recorded documented answers, emulated labels,
chat-completion Verify, and outages injected as real HTTP faults (5xx, latency, dropped
connections) handled both ways by the policy."""

from __future__ import annotations

import json

import pytest

from kluster_agents.integrations import mcp
from kluster_agents.integrations._api.errors import (
    KlusterAuthError,
    KlusterConnectionError,
    KlusterServerError,
    KlusterTimeoutError,
    KlusterVerifyError,
)
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._verify.client import VerifyClient
from kluster_agents.integrations._verify.policy import HallucinationDetected, VerifyPolicy
from kluster_agents.integrations._verify.result import VerifyResult
from kluster_agents.integrations.mcp import result_from_tool

PATH = "/verify/reliability"


def _settings(emulator, **overrides) -> KlusterSettings:
    return resolve_settings(emulator.settings, **{"max_retries": 0, **overrides})


@pytest.mark.parametrize("name", ["verify_reliability"])
def test_recorded_reliability_exchange_replays_and_parses(kluster_emulator, kluster_fixture, name):
    exchange = kluster_fixture[name]
    body = exchange["request"]["body"]
    result = VerifyClient(_settings(kluster_emulator)).verify(body["prompt"], body["output"], body.get("context"))
    expected = exchange["response"]["body"]
    assert result.is_hallucination is expected["is_hallucination"]
    assert result.explanation == expected["explanation"] and result.usage == expected["usage"]
    assert result.emulated  # the emulator answered, and says so


def test_recorded_chat_and_mcp_shapes_parse(kluster_fixture):
    chat = kluster_fixture["verify_chat_completion"]["response"]["body"]
    from kluster_agents.integrations._verify.conversation import parse_chat_verdict

    verdict = VerifyResult.from_verdict(
        parse_chat_verdict(chat["choices"][0]["message"]["content"]), source="chat", latency_s=0, emulated=False
    )
    assert verdict.is_hallucination and "Vitamin C" in verdict.explanation

    class Text:
        text = json.dumps(kluster_fixture["mcp_tool_verify_document"]["response"]["body"])

    class ToolResult:
        content, isError, structuredContent = [Text()], False, None

    assert result_from_tool(ToolResult(), latency_s=0).usage["total_tokens"] == 1046
    assert mcp.MCPEndpoint.from_body(kluster_fixture["mcp_enable"]["response"]["body"]).enabled


def test_heuristic_answers_are_labelled_emulated(kluster_emulator):
    client = VerifyClient(_settings(kluster_emulator))
    flagged = client.verify("Is earth flat?", "Yes, the earth is flat.")
    supported = client.verify(
        "What's the invoice date?",
        "The invoice date is 22May25.",
        context="InvID:INV7701B Co:OptiTech Date:22May25 Due:21Jun25",
    )
    assert flagged.is_hallucination and flagged.emulated and flagged.explanation.startswith("[emulated]")
    assert supported.reliable and supported.emulated


async def test_verify_conversation_on_the_emulator(kluster_emulator, kluster_fixture):
    messages = kluster_fixture["verify_chat_completion"]["request"]["body"]["messages"]
    for route in ("reliability", "auto"):  # the default route, and the fallback after the observed 500
        client = VerifyClient(_settings(kluster_emulator, verify_conversation_route=route))
        result = await client.averify_conversation(messages)
        assert result.is_hallucination and result.source == "reliability" and result.emulated
        assert client.verify_conversation(messages).is_hallucination
    with pytest.raises(KlusterServerError):  # the documented chat form fails like the live service
        VerifyClient(_settings(kluster_emulator, verify_conversation_route="chat")).verify_conversation(messages)


@pytest.mark.kluster_emulator(mode="docs-strict")
async def test_verify_conversation_chat_route_as_documented(kluster_emulator, kluster_fixture):
    messages = kluster_fixture["verify_chat_completion"]["request"]["body"]["messages"]
    client = VerifyClient(_settings(kluster_emulator, verify_conversation_route="chat"))
    result = await client.averify_conversation(messages)
    assert result.is_hallucination and result.source == "chat" and result.emulated


def test_wrong_key_is_an_auth_error(kluster_emulator):
    settings = resolve_settings(kluster_emulator.settings, api_key="not-the-emulator-key")
    with pytest.raises(KlusterAuthError):
        VerifyClient(settings).verify("q", "a")


@pytest.mark.parametrize(
    ("inject", "error", "overrides"),
    [
        (lambda c: c.fail(503, times=None, path=PATH), KlusterServerError, {}),
        (lambda c: c.add_latency(1.0, path=PATH), KlusterTimeoutError, {"timeout": 0.2}),
        (lambda c: c.drop_connections(times=None, path=PATH), KlusterConnectionError, {}),
    ],
    ids=["5xx", "timeout", "dropped-connection"],
)
async def test_outages_both_ways(kluster_emulator, inject, error, overrides):
    inject(kluster_emulator.controls)
    client = VerifyClient(_settings(kluster_emulator, **overrides))
    with pytest.raises(error):
        client.verify("Is earth flat?", "No.")
    closed = VerifyPolicy(client=client)
    with pytest.raises(KlusterVerifyError, match="fail_closed") as info:
        await closed.acheck("Is earth flat?", "No.")
    assert isinstance(info.value.__cause__, error)
    marked = VerifyPolicy(on_error="mark_unverified", client=client)
    outcome = marked.check("Is earth flat?", "No.")
    assert outcome.action == "unverified" and outcome.result.status == "unverified" and not outcome.passed


def test_transient_fault_is_retried(kluster_emulator):
    kluster_emulator.controls.fail(502, times=1, path=PATH)
    client = VerifyClient(_settings(kluster_emulator, max_retries=1), retry_backoff=0.0)
    assert client.verify("What is 2 + 2?", "4.").reliable
    assert kluster_emulator.controls.count("/v1" + PATH, "POST") == 2  # the 502, then the retry


def test_policy_loop_against_the_emulator(kluster_emulator):
    """The retry loop a framework adapter runs: answer, check, feed back, answer again."""
    policy = VerifyPolicy("retry", max_retries=1, settings=_settings(kluster_emulator))
    prompt = "Where is the Eiffel Tower?"
    first = policy.check(prompt, "The Eiffel Tower is located in Rome.")
    assert first.action == "retry" and "Paris" in first.feedback
    second = policy.check(prompt, "The Eiffel Tower is in Paris, France.")
    assert second.action == "pass"
    with pytest.raises(HallucinationDetected):
        VerifyPolicy("raise", settings=_settings(kluster_emulator)).check("Is earth flat?", "Yes, my friend")
    assert str(policy.report).startswith("Verify: 2 checked (0 cached), 1 flagged")
