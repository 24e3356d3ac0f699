"""`KlusterVerifyTool`: direct runs and an agent calling it, against the emulator's Verify."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kluster_agents.adapters.crewai import KlusterVerifyTool
from kluster_agents.integrations._api.errors import KlusterServerError
from kluster_agents.integrations._api.settings import resolve_settings
from kluster_agents.integrations.emulator import ToolCall

CONTEXT = "The Eiffel Tower in Paris was completed in 1889."


def test_tool_reports_a_hallucination_and_says_it_is_emulated(emu_settings: Any, kluster_emulator: Any) -> None:
    tool = KlusterVerifyTool(settings=emu_settings)
    verdict = json.loads(tool.run(prompt="When was it completed?", output="It was completed in 1887.", context=CONTEXT))
    assert verdict["status"] == "hallucination" and verdict["is_hallucination"] is True
    assert "1887" in verdict["explanation"] and verdict["emulated"] is True
    body = next(r.body for r in kluster_emulator.controls.requests if r.path.endswith("/verify/reliability"))
    assert body == {"prompt": "When was it completed?", "output": "It was completed in 1887.", "context": CONTEXT}


async def test_tool_async_run_reports_reliable(emu_settings: Any) -> None:
    tool = KlusterVerifyTool(settings=emu_settings)
    verdict = json.loads(await tool.arun(prompt="When?", output="It was completed in 1889.", context=CONTEXT))
    assert verdict["status"] == "reliable" and verdict["is_hallucination"] is False


def test_outage_raises_instead_of_reporting_reliable(emu_settings: Any, kluster_emulator: Any) -> None:
    kluster_emulator.controls.fail(503, times=None, path="/v1/verify/reliability")
    tool = KlusterVerifyTool(settings=resolve_settings(emu_settings, max_retries=0))
    with pytest.raises(KlusterServerError):
        tool.run(prompt="When?", output="In 1889.")


def test_an_agent_calls_the_tool_natively(
    make_llm: Any, crew_of: Any, emu_settings: Any, kluster_emulator: Any, chat_bodies: Any
) -> None:
    kluster_emulator.controls.script(
        ToolCall("kluster_verify", {"prompt": "When was it completed?", "output": "In 1887.", "context": CONTEXT}),
        "Verify says 1887 is not supported; the tower was completed in 1889.",
    )
    tool = KlusterVerifyTool(settings=emu_settings)
    result = crew_of(make_llm(), tools=[tool], description="Check the claim 'completed in 1887'.").kickoff()
    assert result.raw.endswith("completed in 1889.")
    assert kluster_emulator.controls.count("/verify/reliability") == 1
    tool_message = next(m for m in chat_bodies()[1]["messages"] if m["role"] == "tool")
    assert json.loads(tool_message["content"])["status"] == "hallucination"
    schema = chat_bodies()[0]["tools"][0]["function"]["parameters"]
    assert set(schema["properties"]) == {"prompt", "output", "context"}
