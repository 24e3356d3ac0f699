"""CrewAI on kluster: reasoning models answer without `<think>`, usage after streams, timeouts, no telemetry."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from pydantic import BaseModel

from kluster_agents.adapters.crewai import kluster_llm
from kluster_agents.integrations._api.errors import KlusterTimeoutError
from kluster_agents.integrations._api.settings import KlusterSettings

R1 = "deepseek-ai/DeepSeek-R1-0528"


@pytest.mark.parametrize("stream", [False, True])
def test_call_returns_the_answer_and_keeps_the_reasoning(make_llm: Any, stream: bool) -> None:
    llm = make_llm(R1, stream=stream)
    answer = llm.call("Why is the sky blue?")
    assert "<think>" not in answer and answer.startswith("[emulated]")
    assert llm.last_reasoning is not None and "Why is the sky blue" in llm.last_reasoning


async def test_acall_returns_the_answer(make_llm: Any) -> None:
    llm = make_llm(R1)
    answer = await llm.acall("Why is the sky blue?")
    assert "<think>" not in answer and llm.last_reasoning


def test_structured_output_on_a_reasoning_model(make_llm: Any) -> None:
    class City(BaseModel):
        name: str
        country: str

    result = make_llm(R1).call("Paris is in France", response_model=City)
    assert isinstance(result, City)


@pytest.mark.parametrize("accept", [False, True], ids=["refused-estimated", "accepted-real"])
def test_usage_metrics_after_a_stream_are_not_zero(make_llm: Any, kluster_emulator: Any, accept: bool) -> None:
    kluster_emulator.controls.accept_stream_options = accept
    llm = make_llm(stream=True)
    llm.call("Tell me about the sea")
    usage = llm.get_token_usage_summary()
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0 and usage.successful_requests == 1


def test_timeout_is_honoured(silent_server: str) -> None:
    settings = KlusterSettings(api_key="k", base_url=silent_server, max_retries=0)
    llm = kluster_llm(settings=settings, timeout=0.5, max_retries=0)
    started = time.monotonic()
    with pytest.raises(KlusterTimeoutError, match="timed out"):
        llm.call("hello")
    assert time.monotonic() - started < 5  # not KLUSTER_TIMEOUT's 60 s


@pytest.mark.parametrize(("preset", "expected"), [(None, "true"), ("false", "false")])
def test_telemetry_is_off_by_default_and_overridable(preset: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CREWAI_DISABLE_TELEMETRY", "OTEL_SDK_DISABLED")}
    if preset is not None:
        env["CREWAI_DISABLE_TELEMETRY"] = preset
    code = "import os, kluster_agents.adapters.crewai; print(os.environ['CREWAI_DISABLE_TELEMETRY'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip().splitlines()[-1] == expected


def test_importing_the_adapter_leaves_the_users_opentelemetry_recording() -> None:
    """Only CrewAI's own telemetry is switched off: a span the application records after importing
    the adapter reaches its exporter (the suite's OTEL_SDK_DISABLED is removed for this run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CREWAI_"))}
    code = """
import os
import kluster_agents.adapters.crewai
from kluster_agents.adapters.crewai import kluster_llm  # the lazy modules load crewai itself
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
with provider.get_tracer("app").start_as_current_span("user-span"):
    pass
print(os.environ.get("CREWAI_DISABLE_TELEMETRY"), os.environ.get("OTEL_SDK_DISABLED"))
print([span.name for span in exporter.get_finished_spans()])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip().splitlines()[-2:] == ["true None", "['user-span']"]
