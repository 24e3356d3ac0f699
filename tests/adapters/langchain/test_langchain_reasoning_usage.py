"""ChatKluster on reasoning models (langchain-deepseek's shape), token usage after a stream, timeouts."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessageChunk

from kluster_agents.adapters.langchain import ChatKluster

R1 = "deepseek-ai/DeepSeek-R1-0528"
LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"


def chat(emulator: Any, **kwargs: Any) -> ChatKluster:
    return ChatKluster(api_key=emulator.api_key, base_url=emulator.base_url, **kwargs)


def _streamed(llm: ChatKluster, prompt: str) -> AIMessageChunk:
    full: AIMessageChunk | None = None
    for chunk in llm.stream(prompt):
        full = chunk if full is None else full + chunk
    assert full is not None
    return full


def test_invoke_moves_inline_think_into_reasoning_content(kluster_emulator: Any) -> None:
    reply = chat(kluster_emulator, model=R1).invoke("Why is the sky blue?")
    assert "<think>" not in reply.text and reply.text.startswith("[emulated]")
    assert "Why is the sky blue" in reply.additional_kwargs["reasoning_content"]
    assert reply.content_blocks[0]["type"] == "reasoning"


def test_stream_moves_inline_think_into_reasoning_content(kluster_emulator: Any) -> None:
    full = _streamed(chat(kluster_emulator, model=R1), "Why is the sky blue?")
    assert "think>" not in full.text and full.text.startswith("[emulated]")
    assert "Why is the sky blue" in full.additional_kwargs["reasoning_content"]
    assert "think>" not in full.additional_kwargs["reasoning_content"]
    assert full.content_blocks[0]["type"] == "reasoning"


async def test_astream_splits_reasoning_too(kluster_emulator: Any) -> None:
    full: AIMessageChunk | None = None
    async for chunk in chat(kluster_emulator, model=R1).astream("Why is the sky blue?"):
        full = chunk if full is None else full + chunk
    assert full is not None and "<think>" not in full.text
    assert full.additional_kwargs["reasoning_content"].strip()


def test_a_reasoning_content_field_from_the_server_is_kept(kluster_emulator: Any) -> None:
    # A server with a reasoning parser sends the field instead of the inline block.
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": R1,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "42", "reasoning_content": "6 times 7"},
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    llm = ChatKluster(
        api_key="k", base_url="http://127.0.0.1:9/v1", model=R1, http_client=httpx.Client(transport=transport)
    )
    reply = llm.invoke("6*7?")
    assert reply.text == "42" and reply.additional_kwargs["reasoning_content"] == "6 times 7"


def test_stream_usage_is_estimated_when_the_service_refuses_stream_options(kluster_emulator: Any) -> None:
    full = _streamed(chat(kluster_emulator, model=LLAMA), "Tell me a story")
    assert full.usage_metadata is not None and full.usage_metadata["output_tokens"] > 0
    assert full.usage_metadata["input_tokens"] > 0
    assert full.response_metadata.get("usage_estimated") is True


def test_stream_usage_comes_from_the_service_when_it_accepts_stream_options(kluster_emulator: Any) -> None:
    kluster_emulator.controls.accept_stream_options = True
    full = _streamed(chat(kluster_emulator, model=LLAMA), "Tell me a story")
    assert full.usage_metadata is not None and full.usage_metadata["total_tokens"] > 0
    assert "usage_estimated" not in full.response_metadata


@pytest.mark.parametrize(
    "timeout", [0.5, (0.5, 0.5), httpx.Timeout(0.5, connect=0.5)], ids=["seconds", "tuple", "httpx"]
)
def test_every_timeout_form_is_honoured(silent_server: str, timeout: Any) -> None:
    llm = ChatKluster(api_key="k", base_url=silent_server, timeout=timeout, max_retries=0)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        llm.invoke("hello")
    assert time.monotonic() - started < 5  # not KLUSTER_TIMEOUT's 60 s
