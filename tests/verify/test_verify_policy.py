"""VerifyPolicy: every hallucination action, both outage modes, retry bounds, caching,
sampling, concurrency and the report — sync and async."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from kluster_agents.integrations._api.errors import KlusterAuthError, KlusterInvalidRequestError, KlusterVerifyError
from kluster_agents.integrations._verify.policy import HallucinationDetected, VerifyPolicy
from tests.verify_double import DOCS_HALLUCINATION, RELIABLE, json_response

PROMPT, OUTPUT = "Where is the Eiffel Tower?", "The Eiffel Tower is located in Rome."


def test_reliable_output_passes(make_client):
    client, _ = make_client(RELIABLE)
    outcome = VerifyPolicy(client=client).check(PROMPT, "In Paris.")
    assert outcome.action == "pass" and outcome.status == "reliable" and outcome.passed
    assert outcome.result is not None and outcome.feedback is None


def test_raise_carries_the_result(make_client):
    client, _ = make_client(DOCS_HALLUCINATION)
    with pytest.raises(HallucinationDetected) as info:
        VerifyPolicy("raise", client=client).check(PROMPT, OUTPUT)
    assert isinstance(info.value, KlusterVerifyError)
    assert info.value.result.is_hallucination and "Paris" in str(info.value)


def test_annotate_lets_the_answer_through_with_the_result(make_client):
    client, _ = make_client(DOCS_HALLUCINATION)
    outcome = VerifyPolicy("annotate", client=client).check(PROMPT, OUTPUT)
    assert outcome.action == "annotate" and outcome.status == "hallucination" and outcome.passed
    assert outcome.result.explanation.startswith("The response provides a wrong location")


def test_retry_feedback_is_built_from_the_explanation_and_bounded(make_client):
    client, _ = make_client(DOCS_HALLUCINATION)
    policy = VerifyPolicy("retry", max_retries=2, client=client, cache=False)
    first = policy.check(PROMPT, OUTPUT)
    assert first.action == "retry" and first.attempt == 0 and not first.passed
    assert "actually located in Paris" in first.feedback and "Rewrite the answer" in first.feedback
    second = policy.check(PROMPT, "It is in Rome, Italy.")
    assert second.action == "retry" and second.attempt == 1
    with pytest.raises(HallucinationDetected, match="after 2 retries"):
        policy.check(PROMPT, "Definitely Rome.")
    # the counter was reset: the same prompt starts over
    assert policy.check(PROMPT, OUTPUT).attempt == 0
    assert policy.report.retries == 3 and policy.report.flagged == 4


def test_retry_exhausted_can_annotate_and_success_resets_the_counter(make_client):
    client, _ = make_client(DOCS_HALLUCINATION, RELIABLE, DOCS_HALLUCINATION, DOCS_HALLUCINATION)
    policy = VerifyPolicy("retry", max_retries=1, on_exhausted="annotate", client=client, cache=False)
    assert policy.check(PROMPT, "Rome").action == "retry"
    assert policy.check(PROMPT, "Paris").action == "pass"
    assert policy.check(PROMPT, "Rome").action == "retry"  # counter was reset by the pass
    assert policy.check(PROMPT, "Rome").action == "annotate"


def test_caller_supplied_attempt_overrides_tracking(make_client):
    client, _ = make_client(DOCS_HALLUCINATION)
    policy = VerifyPolicy("retry", max_retries=2, on_exhausted="annotate", client=client)
    assert policy.check(PROMPT, OUTPUT, attempt=0).action == "retry"
    assert policy.check(PROMPT, OUTPUT, attempt=0).action == "retry"  # not tracked when the caller counts
    assert policy.check(PROMPT, OUTPUT, attempt=2).action == "annotate"


def test_callable_decides_per_result(make_client):
    client, _ = make_client(DOCS_HALLUCINATION)
    seen = []

    def decide(result):
        seen.append(result)
        return "annotate" if "Paris" in result.explanation else "raise"

    outcome = VerifyPolicy(decide, client=client).check(PROMPT, OUTPUT)
    assert outcome.action == "annotate" and seen[0].is_hallucination
    with pytest.raises(KlusterVerifyError, match="returned 'maybe'"):
        VerifyPolicy(lambda r: "maybe", client=client, cache=False).check(PROMPT, OUTPUT)


@pytest.mark.parametrize(
    "failure",
    [
        json_response({"error": {"message": "down"}}, 503),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("drop"),
        json_response({"error": {"message": "slow down"}}, 429, {"retry-after": "0"}),
        {"no": "verdict"},
    ],
    ids=["5xx", "timeout", "dropped", "429", "malformed"],
)
def test_outage_fails_closed_by_default(make_client, failure):
    client, _ = make_client(failure)
    policy = VerifyPolicy(client=client)
    with pytest.raises(KlusterVerifyError, match="fail_closed") as info:
        policy.check(PROMPT, OUTPUT)
    assert info.value.__cause__ is not None
    assert policy.report.errors == 1 and policy.report.checked == 0


def test_outage_marked_unverified_is_explicit(make_client):
    client, _ = make_client(json_response({}, 502))
    policy = VerifyPolicy(on_error="mark_unverified", client=client)
    outcome = policy.check(PROMPT, OUTPUT)
    assert outcome.action == "unverified" and outcome.status == "unverified" and not outcome.passed
    assert outcome.result.is_hallucination is None and outcome.result.status == "unverified"
    assert "502" in outcome.result.explanation
    assert policy.report.unverified == 1 and policy.report.checked == 0


@pytest.mark.parametrize("on_error", ["fail_closed", "mark_unverified"])
def test_caller_errors_always_raise(make_client, on_error):
    client, _ = make_client(json_response({"error": {"message": "bad key"}}, 401))
    with pytest.raises(KlusterAuthError):
        VerifyPolicy(on_error=on_error, client=client).check(PROMPT, OUTPUT)
    with pytest.raises(KlusterInvalidRequestError):
        VerifyPolicy(on_error=on_error, client=client).check(PROMPT, "")


def test_identical_checks_are_cached(make_client):
    client, script = make_client(RELIABLE)
    policy = VerifyPolicy(client=client)
    first, second = policy.check(PROMPT, "Paris"), policy.check(PROMPT, "Paris")
    third = policy.check(PROMPT, "Paris", context="doc")
    assert len(script.requests) == 2 and not first.cached and second.cached and not third.cached
    assert policy.report.checked == 3 and policy.report.cached == 1 and len(policy.report.latencies) == 2
    uncached, script = make_client(RELIABLE)
    policy = VerifyPolicy(client=uncached, cache=False)
    policy.check(PROMPT, "Paris"), policy.check(PROMPT, "Paris")
    assert len(script.requests) == 2


def test_cache_is_bounded(make_client):
    client, script = make_client(RELIABLE)
    policy = VerifyPolicy(client=client, cache_size=2)
    for output in ("a", "b", "c", "a"):
        policy.check(PROMPT, output)
    assert len(script.requests) == 4  # "a" was evicted


def test_sampled_out_checks_are_skipped_not_reliable(make_client):
    client, script = make_client(RELIABLE)
    policy = VerifyPolicy(client=client, sample_rate=0.3, seed=7, cache=False)
    outcomes = [policy.check(PROMPT, f"answer {i}") for i in range(200)]
    skipped = [o for o in outcomes if o.status == "skipped"]
    assert all(o.result is None and o.action == "pass" for o in skipped)
    assert 100 < len(skipped) < 180 and len(script.requests) == 200 - len(skipped)
    assert policy.report.skipped == len(skipped) and policy.report.checked == len(script.requests)
    none, script = make_client(RELIABLE)
    assert VerifyPolicy(client=none, sample_rate=0.0).check(PROMPT, "x").status == "skipped"
    assert script.requests == []


def test_report_counts_and_latency(make_client):
    client, _ = make_client(RELIABLE, DOCS_HALLUCINATION, json_response({}, 500))
    policy = VerifyPolicy("annotate", on_error="mark_unverified", client=client)
    for output in ("a", "b", "c", "a"):
        policy.check(PROMPT, output)
    report = policy.report.as_dict()
    assert report | {"latency_p50_s": None, "latency_max_s": None} == {
        "checked": 3,
        "flagged": 1,
        "unverified": 1,
        "skipped": 0,
        "cached": 1,
        "retries": 0,
        "errors": 0,
        "latency_p50_s": None,
        "latency_max_s": None,
    }
    assert 0 < report["latency_p50_s"] <= report["latency_max_s"]
    assert str(policy.report).startswith("Verify: 3 checked (1 cached), 1 flagged, 1 unverified")
    policy.reset()
    assert policy.report.checked == 0


async def test_async_outcomes_match_sync(make_client):
    client, _ = make_client(DOCS_HALLUCINATION)
    policy = VerifyPolicy("retry", max_retries=1, client=client, cache=False)
    assert (await policy.acheck(PROMPT, OUTPUT)).action == "retry"
    with pytest.raises(HallucinationDetected):
        await policy.acheck(PROMPT, OUTPUT)
    down, _ = make_client(httpx.ConnectError("refused"))
    assert (await VerifyPolicy(on_error="mark_unverified", client=down).acheck(PROMPT, OUTPUT)).action == "unverified"
    with pytest.raises(KlusterVerifyError, match="fail_closed"):
        await VerifyPolicy(client=down).acheck(PROMPT, OUTPUT)


def _tracking_handler(delay: float):
    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    async def handler(request):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(delay)
        with lock:
            state["now"] -= 1
        return json_response(RELIABLE)

    return handler, state


async def test_concurrency_cap_limits_in_flight_checks(make_client):
    handler, state = _tracking_handler(0.02)
    client, _ = make_client()
    client._async_http_client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    policy = VerifyPolicy(client=client, concurrency=3)
    outcomes = await asyncio.gather(*(policy.acheck(PROMPT, f"a{i}") for i in range(12)))
    assert all(o.passed for o in outcomes) and state["peak"] == 3


def test_sync_concurrency_cap_across_threads(make_client):
    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def handler(request):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return json_response(RELIABLE)

    client, _ = make_client(handler)
    policy = VerifyPolicy(client=client, concurrency=2)
    threads = [threading.Thread(target=policy.check, args=(PROMPT, f"a{i}")) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state["peak"] == 2 and policy.report.checked == 8


@pytest.mark.parametrize(
    "bad",
    [
        {"on_hallucination": "ignore"},
        {"on_error": "pass"},
        {"sample_rate": 2},
        {"max_retries": -1},
        {"on_exhausted": "retry"},
    ],
)
def test_bad_policy_settings_are_refused(bad):
    with pytest.raises(KlusterVerifyError):
        VerifyPolicy(**bad)


def test_policy_needs_no_key_until_the_first_check():
    policy = VerifyPolicy()
    assert "retry" in repr(policy)
    with pytest.raises(Exception, match="KLUSTER_API_KEY"):
        policy.check(PROMPT, OUTPUT)
