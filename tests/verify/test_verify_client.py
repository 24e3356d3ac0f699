"""VerifyClient against a scripted transport: request shape, documented answers, error mapping,
retries, long-context chunking/refusal, chat-completion Verify, and secret hygiene."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from kluster_agents.integrations._api.errors import (
    KlusterAuthError,
    KlusterBadRequestError,
    KlusterConfigError,
    KlusterConnectionError,
    KlusterInvalidRequestError,
    KlusterRateLimitError,
    KlusterServerError,
    KlusterTimeoutError,
    KlusterVerifyError,
)
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings
from kluster_agents.integrations._verify.chunking import estimate_tokens, split_context
from kluster_agents.integrations._verify.client import VerifyClient
from kluster_agents.integrations._verify.conversation import parse_chat_verdict
from kluster_agents.integrations._verify.result import VerifyResult, combine_chunk_results
from tests.verify_double import BASE_URL, DOCS_HALLUCINATION, RELIABLE, SECRET_KEY, json_response


def test_documented_hallucination_parses_into_a_typed_result(make_client):
    client, script = make_client(DOCS_HALLUCINATION)
    result = client.verify("Where is the Eiffel Tower?", "The Eiffel Tower is located in Rome.")
    assert result.is_hallucination is True
    assert result.status == "hallucination" and not result.reliable
    assert result.usage == {"completion_tokens": 154, "prompt_tokens": 1100, "total_tokens": 1254}
    assert "Paris" in result.explanation
    assert result.source == "reliability" and result.emulated is False
    assert result.latency_s > 0
    request = script.requests[0]
    assert str(request.url) == f"{BASE_URL}/verify/reliability"
    assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert request.headers["user-agent"].startswith("kluster-agents/")
    assert script.bodies[0] == {
        "prompt": "Where is the Eiffel Tower?",
        "output": "The Eiffel Tower is located in Rome.",
    }


def test_context_and_search_results_are_sent_as_documented(make_client):
    answer = {**RELIABLE, "search_results": [{"title": "Invoice", "link": "https://example.com"}]}
    client, script = make_client(answer)
    result = client.verify(
        "What's the invoice date?", "May 22, 2025", context="Date:22May25", return_search_results=True
    )
    assert script.bodies[0] == {
        "prompt": "What's the invoice date?",
        "output": "May 22, 2025",
        "context": "Date:22May25",
        "return_search_results": True,
    }
    assert result.reliable and result.search_results == answer["search_results"]


def test_emulator_header_marks_the_result_emulated(make_client):
    client, _ = make_client(json_response(RELIABLE, headers={"x-kluster-emulator": "true"}))
    assert client.verify("q", "a").emulated is True


async def test_async_twin_returns_the_same_result(make_client):
    client, script = make_client(DOCS_HALLUCINATION)
    result = await client.averify("Where is the Eiffel Tower?", "In Rome.")
    assert result.is_hallucination is True and script.bodies[0]["output"] == "In Rome."


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (json_response({"error": {"message": "boom"}}, 500), KlusterServerError),
        (json_response({"error": {"message": "bad key"}}, 401), KlusterAuthError),
        (json_response({"error": {"message": "slow down"}}, 429, {"retry-after": "7"}), KlusterRateLimitError),
        (httpx.ConnectError("refused"), KlusterConnectionError),
        (httpx.RemoteProtocolError("server disconnected"), KlusterConnectionError),
        (httpx.ReadTimeout("slow"), KlusterTimeoutError),
        ({"explanation": "no verdict field"}, KlusterVerifyError),
        (httpx.Response(200, text="<html>gateway</html>"), KlusterVerifyError),
    ],
)
def test_failures_map_to_typed_errors(make_client, answer, error):
    client, _ = make_client(answer)
    with pytest.raises(error) as info:
        client.verify("q", "a")
    if error is KlusterRateLimitError:
        assert info.value.retry_after == 7.0


def test_transient_failures_are_retried_up_to_max_retries(make_client, settings):
    flaky = [json_response({}, 503), httpx.RemoteProtocolError("dropped"), RELIABLE]
    client, script = make_client(*flaky, settings_=resolve_settings(settings, max_retries=2))
    assert client.verify("q", "a").reliable
    assert len(script.requests) == 3

    client, script = make_client(json_response({}, 503), settings_=resolve_settings(settings, max_retries=1))
    with pytest.raises(KlusterServerError):
        client.verify("q", "a")
    assert len(script.requests) == 2


def test_client_errors_are_not_retried(make_client, settings):
    client, script = make_client(
        json_response({"detail": "bad"}, 400), settings_=resolve_settings(settings, max_retries=3)
    )
    with pytest.raises(KlusterBadRequestError):
        client.verify("q", "a")
    assert len(script.requests) == 1


@pytest.mark.parametrize(("prompt", "output"), [("", "a"), ("q", "  "), ("q", None)])
def test_empty_input_is_refused_before_the_network(make_client, prompt, output):
    client, script = make_client()
    with pytest.raises(KlusterInvalidRequestError):
        client.verify(prompt, output)
    assert script.requests == []


def test_missing_key_is_a_config_error_before_the_network(make_client):
    client, script = make_client(settings_=KlusterSettings.load(base_url=BASE_URL))
    with pytest.raises(KlusterConfigError, match="KLUSTER_API_KEY"):
        client.verify("q", "a")
    assert script.requests == []


# -- long contexts ----------------------------------------------------------------------------------


def _long_context(tokens: int) -> str:
    paragraph = "The warehouse in Lyon stores 40 pallets of parts. " * 20 + "\n\n"
    return paragraph * (tokens * 3 // len(paragraph) + 1)


def test_context_within_the_limit_is_sent_whole(make_client):
    client, script = make_client()
    client.verify("q", "a", context=_long_context(10_000))
    assert len(script.requests) == 1


def test_long_context_refused_when_asked(make_client):
    client, script = make_client(long_context="refuse")
    with pytest.raises(KlusterInvalidRequestError, match="100000-token context on the core tier") as info:
        client.verify("q", "a", context=_long_context(120_000))
    assert info.value.parameter == "context" and script.requests == []


def test_long_context_is_chunked_and_any_supporting_chunk_decides(make_client):
    flagged = {**RELIABLE, "is_hallucination": True, "explanation": "not in this part", "usage": {"total_tokens": 5}}
    client, script = make_client(flagged, flagged, RELIABLE)
    context = _long_context(250_000)
    result = client.verify("q", "a", context=context)
    assert len(script.requests) == 3  # stops at the first supporting chunk
    sent = [b["context"] for b in script.bodies]
    assert all(estimate_tokens(c) <= 100_000 for c in sent) and sent[0] != sent[1]
    assert result.reliable and result.chunks == 3
    assert result.usage == {"total_tokens": 20}
    assert "context chunk 3/3 supports the output" in result.explanation


def test_long_context_flagged_when_no_chunk_supports_the_output(make_client):
    client, script = make_client({**RELIABLE, "is_hallucination": True, "explanation": "absent"})
    result = client.verify("q", "a", context=_long_context(250_000))
    assert result.is_hallucination and result.chunks == len(script.requests) >= 3
    assert result.explanation.startswith("No single context chunk supports the whole output.")


def test_trial_tier_has_a_smaller_window(make_client, settings):
    client, _script = make_client(settings_=resolve_settings(settings, tier="trial"), long_context="refuse")
    assert client.context_limit() == 32_000
    with pytest.raises(KlusterInvalidRequestError, match="trial tier"):
        client.verify("q", "a", context=_long_context(40_000))


def test_output_too_long_to_verify_is_refused_even_in_chunk_mode(make_client):
    client, script = make_client()
    with pytest.raises(KlusterInvalidRequestError, match="verify a shorter excerpt") as info:
        client.verify("q", "x" * 400_000, context="short")
    assert info.value.parameter == "output" and script.requests == []


def test_split_context_overlaps_and_covers_everything():
    text = " ".join(f"word{i}" for i in range(5000))
    chunks = split_context(text, 2000)
    assert all(len(c) <= 2000 for c in chunks)
    assert chunks[0].split()[-1] in chunks[1]  # overlap keeps facts cut at a boundary
    assert {w for c in chunks for w in c.split()} == set(text.split())


def test_combine_is_conservative():
    bad = VerifyResult(is_hallucination=True, status="hallucination", explanation="x")
    good = VerifyResult(is_hallucination=False, status="reliable", explanation="y")
    assert combine_chunk_results([bad, bad]).is_hallucination
    assert combine_chunk_results([bad, good]).reliable


# -- chat-completion Verify ---------------------------------------------------------------------------


def _chat_completion(content: str, **extra) -> dict:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "klusterai/verify-reliability",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        **extra,
    }


CONVERSATION = [
    {"role": "system", "content": "You are a knowledgeable assistant that provides accurate medical information."},
    {"role": "user", "content": "Does vitamin C cure the common cold?"},
    {"role": "assistant", "content": "Yes, taking large doses of vitamin C has been scientifically proven to cure it."},
]


@respx.mock
def test_verify_conversation_defaults_to_the_reliability_endpoint(settings):
    route = respx.post(f"{BASE_URL}/verify/reliability").mock(return_value=json_response(DOCS_HALLUCINATION))
    result = VerifyClient(settings, limiter=False).verify_conversation(CONVERSATION)
    sent = json.loads(route.calls[0].request.content)
    assert sent["prompt"] == (
        "System: You are a knowledgeable assistant that provides accurate medical information.\n\n"
        "User: Does vitamin C cure the common cold?"
    )
    assert sent["output"] == CONVERSATION[-1]["content"] and "context" not in sent
    assert result.is_hallucination and result.source == "reliability"


@respx.mock
def test_verify_conversation_auto_falls_back_on_the_observed_500(settings):
    observed = {"error": {"message": "Unexpected error occurred", "errorCode": 4000, "type": "invalid_request_error"}}
    chat = respx.post(f"{BASE_URL}/chat/completions").mock(return_value=httpx.Response(500, json=observed))
    respx.post(f"{BASE_URL}/verify/reliability").mock(return_value=json_response(RELIABLE))
    auto = resolve_settings(settings, verify_conversation_route="auto", max_retries=2)
    result = VerifyClient(auto, limiter=False).verify_conversation(CONVERSATION)
    assert result.reliable and result.source == "reliability" and chat.call_count == 1  # no retries of the 500


@respx.mock
def test_verify_conversation_chat_route_surfaces_the_observed_500(settings):
    observed = {"error": {"message": "Unexpected error occurred", "errorCode": 4000, "type": "invalid_request_error"}}
    respx.post(f"{BASE_URL}/chat/completions").mock(return_value=httpx.Response(500, json=observed))
    chat = resolve_settings(settings, verify_conversation_route="chat")
    with pytest.raises(KlusterServerError) as info:
        VerifyClient(chat, limiter=False).verify_conversation(CONVERSATION)
    assert info.value.code == 4000 and "Unexpected error occurred" in info.value.message


@respx.mock
def test_verify_conversation_reads_the_json_verdict(settings):
    route = respx.post(f"{BASE_URL}/chat/completions").mock(
        return_value=json_response(_chat_completion(json.dumps(DOCS_HALLUCINATION), kluster_emulated=True))
    )
    settings = resolve_settings(settings, verify_conversation_route="chat")
    result = VerifyClient(settings, limiter=False).verify_conversation(CONVERSATION)
    sent = json.loads(route.calls[0].request.content)
    assert sent["model"] == "klusterai/verify-reliability" and sent["messages"] == CONVERSATION
    assert result.is_hallucination and result.source == "chat" and result.emulated


@respx.mock
async def test_averify_conversation_and_fenced_json(settings):
    fenced = "Here is the verdict:\n```json\n" + json.dumps(RELIABLE) + "\n```"
    respx.post(f"{BASE_URL}/chat/completions").mock(return_value=json_response(_chat_completion(fenced)))
    settings = resolve_settings(settings, verify_conversation_route="chat")
    result = await VerifyClient(settings, limiter=False).averify_conversation(CONVERSATION)
    assert result.reliable and result.emulated is False


def test_chat_verdict_without_json_is_an_error_not_a_pass():
    with pytest.raises(KlusterVerifyError, match="no JSON verdict"):
        parse_chat_verdict("Looks fine to me!")


def test_verify_conversation_needs_an_assistant_turn(settings):
    with pytest.raises(KlusterInvalidRequestError, match="assistant"):
        VerifyClient(settings).verify_conversation([{"role": "user", "content": "hi"}])


# -- secrets ------------------------------------------------------------------------------------------


def test_key_never_in_repr_logs_or_errors(make_client, caplog):
    caplog.set_level(logging.DEBUG)
    body = {"error": {"message": f"invalid key {SECRET_KEY}"}}
    client, _ = make_client(json_response(body, 401))
    with pytest.raises(KlusterAuthError) as info:
        client.verify("q", "a")
    assert SECRET_KEY not in str(info.value)
    assert SECRET_KEY not in repr(client) and SECRET_KEY not in repr(client.settings)
    assert SECRET_KEY not in caplog.text
    malformed, _ = make_client({"detail": f"Bearer {SECRET_KEY}"})
    with pytest.raises(KlusterVerifyError) as info:
        malformed.verify("q", "a")
    assert SECRET_KEY not in str(info.value)
