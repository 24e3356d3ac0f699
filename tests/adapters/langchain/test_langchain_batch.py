"""`.batch()/.abatch()` through the Batch API: same messages, same order, per-item errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

from kluster_agents.adapters.langchain import ChatKluster, KlusterBatchChat
from kluster_agents.integrations._api.errors import KlusterBatchError, KlusterUnsupportedError

IMAGE = HumanMessage(content=[{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}])
PROMPTS = [f"Classify ticket {i}: my invoice is wrong" for i in range(6)]


@tool
def route(queue: str) -> str:
    """Route a ticket to a queue."""
    return queue


def make(emulator: Any, cls: type[ChatKluster] = ChatKluster, **kwargs: Any) -> ChatKluster:
    return cls(api_key=emulator.api_key, base_url=emulator.base_url, max_tokens=64, **kwargs)


def comparable(message: AIMessage) -> tuple[Any, ...]:
    meta = {k: v for k, v in message.response_metadata.items() if k != "id"}
    calls = [(c["name"], c["args"]) for c in message.tool_calls]
    return message.content, calls, meta, message.usage_metadata


def calls_to(emulator: Any, suffix: str) -> int:
    return sum(r.path.endswith(suffix) for r in emulator.controls.requests)


def test_batch_api_matches_the_real_time_path(kluster_emulator: Any) -> None:
    realtime = make(kluster_emulator).batch(PROMPTS)
    kluster_emulator.controls.clear_requests()
    batched = make(kluster_emulator, batch=True).batch(PROMPTS)
    assert [comparable(m) for m in batched] == [comparable(m) for m in realtime]
    assert calls_to(kluster_emulator, "/chat/completions") == 0
    assert calls_to(kluster_emulator, "/batches") == 1  # one job for all inputs
    assert all(m.id and m.id.startswith("lc_run-") for m in batched)


def test_batch_with_bound_tools_and_kwargs(kluster_emulator: Any) -> None:
    inputs = PROMPTS[:3]
    realtime = make(kluster_emulator).bind_tools([route]).batch(inputs, stop=["\n\n"])
    batched = make(kluster_emulator, KlusterBatchChat).bind_tools([route]).batch(inputs, stop=["\n\n"])
    assert [[c["name"] for c in m.tool_calls] for m in batched] == [["route"]] * 3
    assert [comparable(m)[1] for m in batched] == [comparable(m)[1] for m in realtime]


async def test_abatch_matches_and_keeps_order(kluster_emulator: Any) -> None:
    batched = await make(kluster_emulator, batch=True).abatch(PROMPTS)
    assert [m.text for m in batched] == [f"[emulated] reply to: {p}" for p in PROMPTS]
    assert calls_to(kluster_emulator, "/chat/completions") == 0


def test_refused_input_is_returned_in_place(kluster_emulator: Any) -> None:
    out = make(kluster_emulator, batch=True).batch([PROMPTS[0], [IMAGE], PROMPTS[1]], return_exceptions=True)
    assert isinstance(out[0], AIMessage) and isinstance(out[2], AIMessage)
    assert isinstance(out[1], KlusterUnsupportedError)
    assert out[2].text.endswith(PROMPTS[1])


def test_refused_input_raises_before_anything_is_submitted(kluster_emulator: Any) -> None:
    with pytest.raises(KlusterUnsupportedError):
        make(kluster_emulator, batch=True).batch([PROMPTS[0], [IMAGE]])
    assert kluster_emulator.controls.count() == 0


# A prompt above the trial tier's 32k-token context: compat lets it through (it does not count
# tokens), the service fails that one line with a 400 in the batch's error file.
TOO_LONG = "word " * 40_000


@pytest.mark.kluster_emulator(tier="trial")
async def test_failed_batch_line_is_a_per_item_error(kluster_emulator: Any) -> None:
    out = await make(kluster_emulator, batch=True).abatch([PROMPTS[0], TOO_LONG, PROMPTS[1]], return_exceptions=True)
    assert isinstance(out[0], AIMessage) and isinstance(out[2], AIMessage)
    assert isinstance(out[1], KlusterBatchError) and out[1].custom_id == "lc-1"
    assert "context" in str(out[1])


@pytest.mark.kluster_emulator(tier="trial")
def test_failed_batch_line_raises_without_return_exceptions(kluster_emulator: Any) -> None:
    with pytest.raises(KlusterBatchError, match="context"):
        make(kluster_emulator, batch=True).batch([PROMPTS[0], TOO_LONG])


def test_callbacks_see_every_item(kluster_emulator: Any) -> None:
    class Count(BaseCallbackHandler):
        starts = ends = 0

        def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
            Count.starts += 1

        def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
            Count.ends += 1

    make(kluster_emulator, batch=True).batch(PROMPTS[:4], config={"callbacks": [Count()]})
    assert Count.starts == Count.ends == 4


def test_batch_configuration_reaches_the_job(kluster_emulator: Any) -> None:
    make(kluster_emulator, batch=True, batch_completion_window="1h").batch(PROMPTS[:2])
    [create] = [r for r in kluster_emulator.controls.requests if r.path.endswith("/batches") and r.method == "POST"]
    assert create.body["completion_window"] == "1h"


def test_structured_output_in_batch_mode(kluster_emulator: Any) -> None:
    from pydantic import BaseModel

    class Ticket(BaseModel):
        queue: str
        urgent: bool

    llm = make(kluster_emulator, batch=True).with_structured_output(Ticket)
    tickets = llm.batch(PROMPTS[:3])
    assert all(isinstance(t, Ticket) for t in tickets)
    assert calls_to(kluster_emulator, "/chat/completions") == 0


JSON_PROMPTS = [
    "Return a JSON object with the keys name and age for Ada Lovelace, who is 36.",
    "Return a JSON object with the keys name and age for Alan Turing, who is 41.",
]


@pytest.mark.parametrize("where", ["bound", "model_kwargs"])
def test_batch_api_accepts_json_mode_as_real_time_does(kluster_emulator: Any, where: str) -> None:
    json_mode = {"response_format": {"type": "json_object"}}
    llm = make(kluster_emulator, batch=True, **({"model_kwargs": json_mode} if where == "model_kwargs" else {}))
    runnable = llm.bind(**json_mode) if where == "bound" else llm
    replies = runnable.batch(JSON_PROMPTS)
    assert [json.loads(r.text) for r in replies] == [
        {"name": "Ada Lovelace", "age": 36},
        {"name": "Alan Turing", "age": 41},
    ]
    assert calls_to(kluster_emulator, "/chat/completions") == 0 and calls_to(kluster_emulator, "/batches") == 1
