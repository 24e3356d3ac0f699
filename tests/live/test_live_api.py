"""Against api.kluster.ai itself: run with KLUSTER_API_KEY set (skipped otherwise).

These check the assumptions the compat layer and emulator encode: tool-call loops are
accepted natively, unsupported parameters are dropped before sending, Verify answers parse.
"""

from __future__ import annotations

import pytest

from kluster_agents.integrations import KlusterSettings, make_client, refresh_models
from kluster_agents.integrations._verify.client import VerifyClient

pytestmark = pytest.mark.live
MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
TOOL = {
    "type": "function",
    "function": {
        "name": "multiply",
        "description": "Multiply two integers",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


@pytest.fixture
def client():
    return make_client(KlusterSettings.load())


def test_models_visible_to_the_key() -> None:
    ids = {m.id for m in refresh_models(make_client(KlusterSettings.load()))}
    assert MODEL in ids


def test_chat_with_parameters_compat_drops(client) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Say OK.", "name": "tester"}],
        max_tokens=10,
        store=True,
        stream_options=None,
    )
    assert reply.choices[0].message.content


def test_native_tool_loop(client) -> None:
    messages = [{"role": "user", "content": "What is 1337 multiplied by 42? Use the tool."}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[TOOL])
    call = first.choices[0].message.tool_calls[0]
    messages += [first.choices[0].message.model_dump(), {"role": "tool", "tool_call_id": call.id, "content": "56154"}]
    final = client.chat.completions.create(model=MODEL, messages=messages, tools=[TOOL])
    assert "56" in (final.choices[0].message.content or "")


def test_verify_reliability_parses() -> None:
    result = VerifyClient(KlusterSettings.load()).verify(
        "Where is the Eiffel Tower?", "The Eiffel Tower is located in Rome."
    )
    assert result.is_hallucination is True and not result.emulated
