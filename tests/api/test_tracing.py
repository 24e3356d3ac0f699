"""OpenTelemetry spans for batch runs, adaptive requests and Verify checks, read with the SDK's in-memory
exporter; and none of it (not even the import) when the process does not use OpenTelemetry.

Each test installs its own tracer provider as the global one for the test only (tests/conftest.py disables
the SDK for everything else, and the global provider can otherwise be set once per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kluster_agents.integrations._api.catalog import VERIFY_MODEL
from kluster_agents.integrations._api.tracing import TRACE_METADATA_KEY, TRACER_NAME
from kluster_agents.integrations._jobs.adaptive import complete_adaptive
from kluster_agents.integrations._jobs.batch.run import run_batch
from kluster_agents.integrations._jobs.batch.submit import submit_batch
from kluster_agents.integrations._verify.client import VerifyClient

pytestmark = pytest.mark.kluster_emulator(timing="instant")

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
SECRET_PROMPT = "the secret plan is tangerine"


def chat(i: int) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"{SECRET_PROMPT} {i}"}]}


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """An in-memory exporter behind this test's own global tracer provider (restored afterwards)."""
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)  # read once, when the provider is built
    exported = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exported))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    yield exported
    provider.shutdown()


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def assert_no_secrets(spans: tuple[ReadableSpan, ...], *secrets: str) -> None:
    """No attribute of our spans (the emulator's web framework traces itself too) carries a secret."""
    ours = [s for s in spans if s.instrumentation_scope is not None and s.instrumentation_scope.name == TRACER_NAME]
    values = [str(v) for s in ours for v in (s.attributes or {}).values()]
    for secret in secrets:
        assert not [v for v in values if secret in v]


def test_batch_run_exports_submit_chunk_poll_and_results_spans(kluster_emulator, exporter):
    results = run_batch(
        [chat(i) for i in range(3)],
        settings=kluster_emulator.settings,
        max_requests_per_job=2,
        poll_interval=0.01,
        journal=False,
    )
    assert len(results) == 3 and all(r.ok for r in results)
    spans = exporter.get_finished_spans()
    (submit,) = named(spans, "kluster.batch.submit")
    chunks = named(spans, "kluster.batch.chunk")
    polls, downloads = named(spans, "kluster.batch.poll"), named(spans, "kluster.batch.results")
    run_key = attrs(submit)["kluster.batch.run_key"]
    assert attrs(submit)["gen_ai.provider.name"] == "kluster"
    assert attrs(submit)["kluster.batch.lines"] == 3 and attrs(submit)["kluster.batch.chunks"] == 2
    assert [attrs(c)["kluster.batch.lines"] for c in chunks] == [2, 1]
    assert all(c.parent is not None and c.parent.span_id == submit.context.span_id for c in chunks)
    job_ids = {attrs(c)["kluster.batch.id"] for c in chunks}
    assert len(job_ids) == 2 and {attrs(d)["kluster.batch.id"] for d in downloads} == job_ids
    assert polls and {attrs(p)["kluster.batch.id"] for p in polls} <= job_ids
    for span in (*chunks, *polls, *downloads):
        assert attrs(span)["kluster.batch.run_key"] == run_key
    assert sum(attrs(d)["kluster.batch.lines_ok"] for d in downloads) == 3
    assert all(attrs(d)["kluster.batch.lines_failed"] == 0 for d in downloads)
    assert {attrs(d)["kluster.batch.status"] for d in downloads} == {"completed"}
    # every later span about a job links to the span that created it, through the job's metadata
    created = {attrs(c)["kluster.batch.id"]: c.context.span_id for c in chunks}
    for span in (*polls, *downloads):
        assert [link.context.span_id for link in span.links] == [created[attrs(span)["kluster.batch.id"]]]
    assert_no_secrets(spans, SECRET_PROMPT, kluster_emulator.api_key)


def test_a_later_worker_joins_the_job_it_reattaches_to(kluster_emulator, exporter, tmp_path):
    requests = [chat(i) for i in range(2)]
    options = {"settings": kluster_emulator.settings, "journal": tmp_path / "journal", "poll_interval": 0.01}
    with submit_batch(requests, **options):  # the first worker submits and goes away
        pass
    (first,) = named(exporter.get_finished_spans(), "kluster.batch.chunk")
    exporter.clear()

    assert all(r.ok for r in run_batch(requests, **options))  # another worker, later, same input
    spans = exporter.get_finished_spans()
    (chunk,) = named(spans, "kluster.batch.chunk")
    assert attrs(chunk)["kluster.batch.reattached"] is True
    assert attrs(chunk)["kluster.batch.id"] == attrs(first)["kluster.batch.id"]
    assert chunk.context.trace_id != first.context.trace_id  # a trace of its own...
    (download,) = named(spans, "kluster.batch.results")
    assert [link.context.span_id for link in download.links] == [first.context.span_id]  # ...joined to the job's
    assert attrs(download)["kluster.batch.run_key"] == attrs(first)["kluster.batch.run_key"]
    sent = [r.body for r in kluster_emulator.controls.requests if r.path.endswith("/batches") and r.method == "POST"]
    assert len(sent) == 1 and TRACE_METADATA_KEY in sent[0]["metadata"]


def test_adaptive_request_span_carries_model_job_and_usage(kluster_emulator, exporter):
    completion = complete_adaptive(chat(0), settings=kluster_emulator.settings, poll_interval=0.01)
    spans = exporter.get_finished_spans()
    (request,) = named(spans, f"chat {MODEL}")
    attributes = attrs(request)
    assert attributes["gen_ai.operation.name"] == "chat" and attributes["gen_ai.request.model"] == MODEL
    assert attributes["kluster.adaptive"] is True and attributes["kluster.batch.status"] == "completed"
    assert attributes["gen_ai.response.id"] == completion.id
    assert completion.usage is not None
    assert attributes["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    polls = named(spans, "kluster.batch.poll")
    assert polls and all(p.parent is not None and p.parent.span_id == request.context.span_id for p in polls)
    assert {attrs(p)["kluster.batch.id"] for p in polls} == {attributes["kluster.batch.id"]}
    assert_no_secrets(spans, SECRET_PROMPT, kluster_emulator.api_key)


def test_verify_check_span_carries_the_verdict_not_the_texts(kluster_emulator, exporter):
    result = VerifyClient(kluster_emulator.settings).verify(
        SECRET_PROMPT, "Paris is the capital of France.", context="Paris is the capital of France."
    )
    (check,) = named(exporter.get_finished_spans(), "kluster.verify")
    attributes = attrs(check)
    assert attributes["gen_ai.request.model"] == VERIFY_MODEL and attributes["kluster.verify.route"] == "reliability"
    assert attributes["kluster.verify.status"] == result.status
    assert attributes["kluster.verify.is_hallucination"] is result.is_hallucination
    assert_no_secrets(exporter.get_finished_spans(), SECRET_PROMPT, "Paris", kluster_emulator.api_key)


async def test_async_verify_check_is_traced(kluster_emulator, exporter):
    result = await VerifyClient(kluster_emulator.settings).averify("Capital of France?", "Lyon.")
    (check,) = named(exporter.get_finished_spans(), "kluster.verify")
    assert attrs(check)["kluster.verify.is_hallucination"] is result.is_hallucination


OFF_PROGRAM = """
import json, sys
from kluster_agents.integrations._jobs.batch.run import run_batch
from kluster_agents.integrations._verify.client import VerifyClient
results = run_batch([{"model": sys.argv[1], "messages": [{"role": "user", "content": "hi"}]}], poll_interval=0.01, journal=False)
verdict = VerifyClient().verify("Capital of France?", "Paris.")
print(json.dumps({"ok": all(r.ok for r in results), "status": verdict.status,
                  "otel": sorted(m for m in sys.modules if m.startswith("opentelemetry"))}))
"""


def test_without_opentelemetry_nothing_is_imported_or_traced(kluster_emulator):
    env = {
        **os.environ,
        "KLUSTER_BASE_URL": kluster_emulator.base_url,
        "KLUSTER_API_KEY": kluster_emulator.api_key,
        "KLUSTER_TIER": kluster_emulator.controls.tier.value,
    }
    env.pop("OTEL_SDK_DISABLED", None)
    done = subprocess.run(
        [sys.executable, "-c", OFF_PROGRAM, MODEL], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"ok": True, "status": report["status"], "otel": []}
    sent = [r.body for r in kluster_emulator.controls.requests if r.path.endswith("/batches") and r.method == "POST"]
    assert sent and all(TRACE_METADATA_KEY not in body["metadata"] for body in sent)
