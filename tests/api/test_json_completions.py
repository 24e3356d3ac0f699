"""`KlusterJSONCompletions`: chat completions and stream chunks as the JSON the service sent (what
ChatKluster reads), checked as the openai models are; other calls of the same client keep models."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from openai.types import FileObject
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from kluster_agents.integrations._api.client import make_client
from kluster_agents.integrations._api.kluster_openai import (
    JSON_EXTENSION,
    AsyncKlusterJSONCompletions,
    KlusterJSONCompletions,
)
from kluster_agents.integrations._api.openai_errors import KlusterOpenAIResponseError, KlusterOpenAIStreamError
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._api.stream_usage import ESTIMATED_FLAG

MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
ASK = {"model": MODEL, "messages": [{"role": "user", "content": "Tell me about the sea"}]}


def _clients(settings: KlusterSettings, **overrides: Any) -> tuple[Any, KlusterJSONCompletions]:
    client = make_client(settings, **overrides)
    return client, KlusterJSONCompletions(client)


def test_a_completion_comes_back_as_the_json_sent(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script("the answer", "the answer")
    client, completions = _clients(kluster_emulator.settings)
    body = completions.create(**ASK)
    assert type(body) is dict and body["choices"][0]["message"]["content"] == "the answer"
    assert ChatCompletion.model_validate(body).model_dump(exclude_unset=True) == body  # all of it, as sent
    raw = completions.with_raw_response.create(**ASK)  # LangChain's path
    parsed = raw.parse()
    assert type(parsed) is dict and parsed["choices"] == body["choices"] and parsed["usage"] == body["usage"]
    assert raw.headers["content-type"].startswith("application/json")
    # the same client, after: openai models again (the mark is per request)
    assert isinstance(client.chat.completions.create(**ASK), ChatCompletion)


def test_a_stream_is_json_chunks_ending_with_the_estimated_usage(kluster_emulator: Any) -> None:
    _, completions = _clients(kluster_emulator.settings, stream_usage="estimate")
    chunks = list(completions.create(**ASK, stream=True))
    assert all(type(c) is dict for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    tail = chunks[-1]
    assert tail["choices"] == [] and tail[ESTIMATED_FLAG] and tail["usage"][ESTIMATED_FLAG]
    assert tail["usage"]["completion_tokens"] == (len(text) + 3) // 4 and tail["usage"]["prompt_tokens"] > 0
    assert tail["id"] == chunks[0]["id"] and tail["model"] == MODEL


def test_a_stream_with_the_servers_usage_gets_no_estimate(kluster_emulator: Any) -> None:
    kluster_emulator.controls.accept_stream_options = True
    _, completions = _clients(kluster_emulator.settings)
    chunks = list(completions.create(**ASK, stream=True))
    assert [c.get("usage") is not None for c in chunks].count(True) == 1
    assert not any(ESTIMATED_FLAG in c for c in chunks)


async def test_async_json_stream_and_completion(kluster_emulator: Any) -> None:
    from kluster_agents.integrations._api.client import make_async_client

    kluster_emulator.controls.script("async answer")
    completions = AsyncKlusterJSONCompletions(make_async_client(kluster_emulator.settings))
    body = await completions.create(**ASK)
    assert body["choices"][0]["message"]["content"] == "async answer"
    chunks = [c async for c in await completions.create(**ASK, stream=True)]
    assert all(type(c) is dict for c in chunks) and chunks[-1]["usage"]["total_tokens"] > 0


def test_a_truncated_json_stream_raises_the_stream_error(kluster_emulator: Any) -> None:
    kluster_emulator.controls.truncate_streams(after_chunks=2)
    _, completions = _clients(kluster_emulator.settings, max_retries=0)
    with pytest.raises(KlusterOpenAIStreamError, match="ended before its finish chunk"):
        list(completions.create(**ASK, stream=True))


def test_an_adaptive_request_gives_the_answer_not_the_placeholder(kluster_emulator: Any) -> None:
    kluster_emulator.controls.script("the real answer", "the real answer")
    _, completions = _clients(kluster_emulator.settings)
    adaptive = {"metadata": {"@kluster.ai": {"async": True}}}
    answer = completions.create(**ASK, **adaptive)
    assert answer.choices[0].message.content == "the real answer"  # the job's answer: an openai model
    raw = completions.with_raw_response.create(**ASK, **adaptive)
    assert raw.parse().choices[0].message.content == "the real answer"


def _answering(body: Any, content_type: str = "application/json") -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(body).encode(), headers={"content-type": content_type})

    return httpx.Client(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize("choices", [None, "absent", {"index": 0}])
@pytest.mark.parametrize("decoding", ["json", "models"])
@pytest.mark.parametrize("raw", [False, True], ids=["parsed", "raw"])
def test_a_completion_without_a_choices_list_raises(choices: Any, decoding: str, raw: bool) -> None:
    """On every path: LangChain reads through `with_raw_response`, which used to hand it on unchecked."""
    body = {"id": "c", "object": "chat.completion", "created": 1, "model": MODEL}
    if choices != "absent":
        body["choices"] = choices
    client = make_client(
        api_key="k", base_url="https://kluster.example/v1", http_client=_answering(body), max_retries=0
    )
    completions = KlusterJSONCompletions(client) if decoding == "json" else client.chat.completions
    create = completions.with_raw_response.create if raw else completions.create
    with pytest.raises(KlusterOpenAIResponseError, match="no `choices` list"):
        create(**ASK)


def test_only_chat_completions_are_left_as_json() -> None:
    """A marked answer decoded as another type (a caller's `parse(to=...)`) still becomes that model."""
    client = make_client(api_key="k", base_url="https://kluster.example/v1")
    request = httpx.Request("POST", "https://kluster.example/v1/chat/completions", extensions={JSON_EXTENSION: True})
    response = httpx.Response(200, request=request)
    data = {
        "id": "f",
        "object": "file",
        "bytes": 1,
        "created_at": 1,
        "filename": "a",
        "purpose": "batch",
        "status": "processed",
    }
    assert isinstance(client._process_response_data(data=data, cast_to=FileObject, response=response), FileObject)
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": []}
    assert client._process_response_data(data=chunk, cast_to=ChatCompletionChunk, response=response) is chunk
    unmarked = httpx.Response(200, request=httpx.Request("POST", "https://kluster.example/v1/chat/completions"))
    assert isinstance(
        client._process_response_data(data=chunk, cast_to=ChatCompletionChunk, response=unmarked), ChatCompletionChunk
    )
