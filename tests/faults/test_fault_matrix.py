"""The fault matrix: {core client, batch engine, micro-batcher, 4 adapters} x {injected faults}, sync
and async. Every cell ends in a recovered answer or a typed `KlusterError` — never a hang (each test
has a timeout), never a short answer passed off as complete.

Faults come from the emulator's injection (`controls.fail/drop_connections/reset_connections/
malformed_json/truncate_streams`), the same knobs users get from the pytest plugin.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import openai
import pytest

from kluster_agents.integrations._api.client import make_async_client, make_client
from kluster_agents.integrations._api.errors import (
    KlusterAuthError,
    KlusterConnectionError,
    KlusterError,
    KlusterRateLimitError,
    KlusterResponseError,
    KlusterServerError,
    KlusterStreamError,
    KlusterTimeoutError,
)
from kluster_agents.integrations.emulator._control.controls import EmulatorControls
from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import MODEL, user

pytestmark = pytest.mark.timeout(60)

LONG = "a fairly long answer please, with several sentences in it"

# fault name -> (inject it, the KlusterError type expected without retries, the openai type it also is)
Inject = Callable[[EmulatorControls], Any]
FAULTS: dict[str, tuple[Inject, type[KlusterError], type[Exception]]] = {
    "503": (lambda c: c.fail(503), KlusterServerError, openai.InternalServerError),
    "500": (lambda c: c.fail(500), KlusterServerError, openai.InternalServerError),
    "502": (lambda c: c.fail(502), KlusterServerError, openai.InternalServerError),
    "drop": (lambda c: c.drop_connections(), KlusterConnectionError, openai.APIConnectionError),
    "reset-mid-body": (lambda c: c.reset_connections(), KlusterConnectionError, openai.APIConnectionError),
    "malformed-json": (lambda c: c.malformed_json(), KlusterResponseError, openai.APIResponseValidationError),
}
STREAM_FAULTS: dict[str, Inject] = {
    "truncated-sse": lambda c: c.truncate_streams(after_chunks=2),
    "aborted-sse": lambda c: c.reset_connections(after_chunks=2, path="/v1/chat/completions"),
}


# -- core client -------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", list(FAULTS))
def test_core_sync_typed_error(kluster_emulator: Emulator, fault: str) -> None:
    inject, kluster_type, openai_type = FAULTS[fault]
    client = make_client(kluster_emulator.settings, max_retries=0)
    inject(kluster_emulator.controls)
    with pytest.raises(kluster_type) as info:
        client.chat.completions.create(model=MODEL, messages=user("hi"))
    assert isinstance(info.value, openai_type)  # what openai users and framework retry logic catch
    assert client.chat.completions.create(model=MODEL, messages=user("hi")).choices[0].message.content


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_core_async_typed_error(kluster_emulator: Emulator, fault: str) -> None:
    inject, kluster_type, openai_type = FAULTS[fault]
    client = make_async_client(kluster_emulator.settings, max_retries=0)
    inject(kluster_emulator.controls)
    with pytest.raises(kluster_type) as info:
        await client.chat.completions.create(model=MODEL, messages=user("hi"))
    assert isinstance(info.value, openai_type)
    assert (await client.chat.completions.create(model=MODEL, messages=user("hi"))).choices


EMBEDDING_MODEL = "BAAI/bge-m3"
# the endpoints besides chat create that RAG pipelines and structured output go through
OTHER_CALLS: dict[str, Callable[[Any], Any]] = {
    "embeddings": lambda c: c.embeddings.create(model=EMBEDDING_MODEL, input="hi"),
    "parse": lambda c: c.chat.completions.parse(
        model=MODEL, messages=user("hi"), response_format={"type": "json_object"}
    ),
}


@pytest.mark.parametrize("call", list(OTHER_CALLS))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_embeddings_and_parse_sync_typed_error(kluster_emulator: Emulator, fault: str, call: str) -> None:
    inject, kluster_type, openai_type = FAULTS[fault]
    client = make_client(kluster_emulator.settings, max_retries=0)
    inject(kluster_emulator.controls)
    with pytest.raises(kluster_type) as info:
        OTHER_CALLS[call](client)
    assert isinstance(info.value, openai_type)
    assert OTHER_CALLS[call](client)  # the fault was spent: the next call answers


@pytest.mark.parametrize("call", list(OTHER_CALLS))
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_embeddings_and_parse_async_typed_error(kluster_emulator: Emulator, fault: str, call: str) -> None:
    inject, kluster_type, openai_type = FAULTS[fault]
    client = make_async_client(kluster_emulator.settings, max_retries=0)
    inject(kluster_emulator.controls)
    with pytest.raises(kluster_type) as info:
        await OTHER_CALLS[call](client)
    assert isinstance(info.value, openai_type)
    assert await OTHER_CALLS[call](client)


@pytest.mark.parametrize("fault", ["503", "500", "502", "drop", "reset-mid-body"])
def test_core_sdk_retries_recover(kluster_emulator: Emulator, fault: str) -> None:
    FAULTS[fault][0](kluster_emulator.controls)
    client = make_client(kluster_emulator.settings, max_retries=2)
    assert client.chat.completions.create(model=MODEL, messages=user("hi")).choices[0].message.content
    assert kluster_emulator.controls.count("/chat/completions") == 2


def test_core_429_retry_after_recovers_or_types(kluster_emulator: Emulator) -> None:
    controls = kluster_emulator.controls
    controls.clock.freeze()
    controls.enable_rate_limits(rpm=1)
    # the service's 429 itself, typed: no client-side pacing (which would learn rpm=1 from it and then
    # wait a real minute while only the emulator's clock moves)
    client = make_client(kluster_emulator.settings, max_retries=0, client_rate_limit=False)
    client.chat.completions.create(model=MODEL, messages=user("first"))
    with pytest.raises(KlusterRateLimitError) as info:
        client.chat.completions.create(model=MODEL, messages=user("second"))
    assert isinstance(info.value, openai.RateLimitError) and info.value.status_code == 429
    assert info.value.retry_after is not None and info.value.retry_after > 0
    controls.advance(61)  # the window reopens: the next call goes through
    assert client.chat.completions.create(model=MODEL, messages=user("third")).choices


def test_core_401_is_typed_and_an_openai_auth_error(kluster_emulator: Emulator) -> None:
    client = make_client(kluster_emulator.settings, api_key="wrong-key-for-the-matrix", max_retries=0)
    with pytest.raises(KlusterAuthError) as info:
        client.chat.completions.create(model=MODEL, messages=user("hi"))
    assert isinstance(info.value, openai.AuthenticationError) and info.value.status_code == 401


def test_core_stall_past_timeout_is_typed(kluster_emulator: Emulator) -> None:
    kluster_emulator.controls.add_latency(3.0, times=1)
    client = make_client(kluster_emulator.settings, max_retries=0, timeout=0.5)
    with pytest.raises(KlusterTimeoutError) as info:
        client.chat.completions.create(model=MODEL, messages=user("hi"))
    assert isinstance(info.value, openai.APITimeoutError)


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
def test_core_sync_stream_fault_is_never_a_short_answer(kluster_emulator: Emulator, fault: str) -> None:
    client = make_client(kluster_emulator.settings, max_retries=0)
    STREAM_FAULTS[fault](kluster_emulator.controls)
    received: list[Any] = []
    with pytest.raises(KlusterStreamError) as info:
        for chunk in client.chat.completions.create(model=MODEL, messages=user(LONG), stream=True):
            received.append(chunk)
    assert isinstance(info.value, openai.APIConnectionError)
    assert len(received) == 2 and all(c.choices[0].finish_reason is None for c in received)
    full = list(client.chat.completions.create(model=MODEL, messages=user(LONG), stream=True))
    assert [c for c in full if c.choices][-1].choices[0].finish_reason == "stop"  # then the usage chunk


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
async def test_core_async_stream_fault_is_never_a_short_answer(kluster_emulator: Emulator, fault: str) -> None:
    client = make_async_client(kluster_emulator.settings, max_retries=0)
    STREAM_FAULTS[fault](kluster_emulator.controls)
    received: list[Any] = []
    with pytest.raises(KlusterStreamError):
        async for chunk in await client.chat.completions.create(model=MODEL, messages=user(LONG), stream=True):
            received.append(chunk)
    assert len(received) == 2
    stream = await client.chat.completions.create(model=MODEL, messages=user(LONG), stream=True)
    assert [c async for c in stream if c.choices][-1].choices[0].finish_reason == "stop"


def test_core_stream_closed_early_by_the_caller_raises_nothing(kluster_emulator: Emulator) -> None:
    client = make_client(kluster_emulator.settings, max_retries=0)
    with client.chat.completions.create(model=MODEL, messages=user(LONG), stream=True) as stream:
        first = next(iter(stream))
    assert first.choices  # leaving early is the caller's choice, not a truncation


# -- micro-batcher: any worker exception reaches every waiter ----------------------------------
@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyError("custom_id"), asyncio.InvalidStateError("x")])
async def test_microbatcher_worker_exception_reaches_every_waiter(
    kluster_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    from kluster_agents.integrations._jobs import microbatch

    async def failing_submit(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(microbatch, "asubmit_batch", failing_submit)
    async with microbatch.MicroBatcher(kluster_emulator.settings, max_wait=0.01, poll_interval=0.01) as mb:
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(mb.complete({"model": MODEL, "messages": user(str(i))}) for i in range(5)), return_exceptions=True
            ),
            timeout=10,
        )
    assert all(o is error for o in outcomes)


async def test_microbatcher_result_count_mismatch_reaches_every_waiter(
    kluster_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kluster_agents.integrations._jobs import microbatch

    class _Handle:
        batch_ids = ("b",)

        def __enter__(self) -> _Handle:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        async def aresults(self, timeout: float | None = None, **options: Any) -> list[Any]:
            return []  # fewer results than callers

    async def short_submit(*args: Any, **kwargs: Any) -> _Handle:
        return _Handle()

    monkeypatch.setattr(microbatch, "asubmit_batch", short_submit)
    async with microbatch.MicroBatcher(kluster_emulator.settings, max_wait=0.01) as mb:
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(mb.complete({"model": MODEL, "messages": user(str(i))}) for i in range(3)), return_exceptions=True
            ),
            timeout=10,
        )
    assert all(isinstance(o, ValueError) for o in outcomes)


# -- the four adapters -------------------------------------------------------------------------
ADAPTER_FAULTS: dict[str, tuple[Inject, type[KlusterError]]] = {
    "401": (lambda c: c.fail(401, times=5), KlusterAuthError),
    "503": (lambda c: c.fail(503, times=5), KlusterServerError),
    "reset-mid-body": (lambda c: c.reset_connections(times=5), KlusterConnectionError),
    "malformed-json": (lambda c: c.malformed_json(times=5), KlusterResponseError),
}


def _langchain(emulator: Emulator) -> Any:
    pytest.importorskip("langchain_openai")
    from kluster_agents.adapters.langchain import ChatKluster

    return ChatKluster(model=MODEL, max_retries=0)


@pytest.mark.parametrize("fault", list(ADAPTER_FAULTS))
def test_langchain_sync_typed_and_still_langchains_type(kluster_emulator_env: Emulator, fault: str) -> None:
    from langchain_core.exceptions import ModelError  # what LangChain users catch

    inject, kluster_type = ADAPTER_FAULTS[fault]
    llm = _langchain(kluster_emulator_env)
    inject(kluster_emulator_env.controls)
    with pytest.raises(kluster_type) as info:
        llm.invoke("hi")
    assert isinstance(info.value, openai.APIError)
    if fault != "malformed-json":  # LangChain classifies status and connection errors as ModelError
        assert isinstance(info.value, ModelError)


@pytest.mark.parametrize("fault", list(ADAPTER_FAULTS))
async def test_langchain_async_typed(kluster_emulator_env: Emulator, fault: str) -> None:
    inject, kluster_type = ADAPTER_FAULTS[fault]
    llm = _langchain(kluster_emulator_env)
    inject(kluster_emulator_env.controls)
    with pytest.raises(kluster_type):
        await llm.ainvoke("hi")


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
def test_langchain_stream_fault_typed(kluster_emulator_env: Emulator, fault: str) -> None:
    llm = _langchain(kluster_emulator_env)
    STREAM_FAULTS[fault](kluster_emulator_env.controls)
    with pytest.raises(KlusterStreamError):
        "".join(str(chunk.content) for chunk in llm.stream(LONG))


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
async def test_langchain_astream_fault_typed(kluster_emulator_env: Emulator, fault: str) -> None:
    llm = _langchain(kluster_emulator_env)
    STREAM_FAULTS[fault](kluster_emulator_env.controls)
    with pytest.raises(KlusterStreamError):
        async for _ in llm.astream(LONG):
            pass


def test_langchain_with_retry_still_recovers(kluster_emulator_env: Emulator) -> None:
    llm = _langchain(kluster_emulator_env)
    kluster_emulator_env.controls.fail(503, times=1)
    answer = llm.with_retry(stop_after_attempt=2, wait_exponential_jitter=False).invoke("hi")
    assert answer.content and kluster_emulator_env.controls.count("/chat/completions") == 2


def test_langchain_with_fallbacks_still_falls_back(kluster_emulator_env: Emulator) -> None:
    from langchain_core.exceptions import ModelError

    llm = _langchain(kluster_emulator_env)
    kluster_emulator_env.controls.fail(503, times=1)
    answer = llm.with_fallbacks([_langchain(kluster_emulator_env)], exceptions_to_handle=(ModelError,)).invoke("hi")
    assert answer.content


def _crewai_llm(emulator: Emulator) -> Any:
    pytest.importorskip("crewai")
    from kluster_agents.adapters.crewai import kluster_llm

    return kluster_llm(MODEL, max_retries=0)


@pytest.mark.parametrize("fault", list(ADAPTER_FAULTS))
def test_crewai_sync_typed(kluster_emulator_env: Emulator, fault: str) -> None:
    inject, kluster_type = ADAPTER_FAULTS[fault]
    llm = _crewai_llm(kluster_emulator_env)
    inject(kluster_emulator_env.controls)
    with pytest.raises(kluster_type):
        llm.call("hi")


@pytest.mark.parametrize("fault", list(ADAPTER_FAULTS))
async def test_crewai_async_typed(kluster_emulator_env: Emulator, fault: str) -> None:
    inject, kluster_type = ADAPTER_FAULTS[fault]
    llm = _crewai_llm(kluster_emulator_env)
    inject(kluster_emulator_env.controls)
    with pytest.raises(kluster_type):
        await llm.acall("hi")


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
def test_crewai_stream_fault_typed(kluster_emulator_env: Emulator, fault: str) -> None:
    llm = _crewai_llm(kluster_emulator_env)
    llm.stream = True
    STREAM_FAULTS[fault](kluster_emulator_env.controls)
    with pytest.raises(KlusterStreamError):
        llm.call(LONG)


def _pydantic_model(emulator: Emulator) -> Any:
    """A kluster model with no SDK retries, so each injected fault reaches the caller."""
    pytest.importorskip("pydantic_ai")
    from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model
    from kluster_agents.integrations._api.settings import KlusterSettings

    settings = KlusterSettings.load(**{**emulator.settings.model_dump(), "max_retries": 0})
    return kluster_model(MODEL, provider=KlusterProvider(settings=settings))


def _pydantic_agent(emulator: Emulator) -> Any:
    from pydantic_ai import Agent

    return Agent(_pydantic_model(emulator))


@pytest.mark.parametrize("fault", list(ADAPTER_FAULTS))
async def test_pydantic_ai_typed_and_still_pydantic_ais_type(kluster_emulator_env: Emulator, fault: str) -> None:
    from pydantic_ai.exceptions import ModelAPIError, UnexpectedModelBehavior

    inject, kluster_type = ADAPTER_FAULTS[fault]
    agent = _pydantic_agent(kluster_emulator_env)
    inject(kluster_emulator_env.controls)
    with pytest.raises(kluster_type) as info:
        await agent.run("hi")
    if fault in ("401", "503"):
        assert isinstance(info.value, ModelAPIError | UnexpectedModelBehavior)


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
async def test_pydantic_ai_stream_fault_typed(kluster_emulator_env: Emulator, fault: str) -> None:
    agent = _pydantic_agent(kluster_emulator_env)
    STREAM_FAULTS[fault](kluster_emulator_env.controls)
    with pytest.raises(KlusterStreamError):
        async with agent.run_stream(LONG) as run:
            async for _ in run.stream_text():
                pass


async def test_pydantic_ai_fallback_model_still_falls_back(kluster_emulator_env: Emulator) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.fallback import FallbackModel

    kluster_emulator_env.controls.fail(503, times=1)
    agent = Agent(FallbackModel(_pydantic_model(kluster_emulator_env), _pydantic_model(kluster_emulator_env)))
    assert (await agent.run("hi")).output


def _litellm() -> Any:
    litellm = pytest.importorskip("litellm")
    from kluster_agents.adapters.litellm import register

    register()
    litellm.suppress_debug_info = True
    litellm.disable_hf_tokenizer_download = True
    return litellm


def test_litellm_malformed_json_typed(kluster_emulator_env: Emulator) -> None:
    litellm = _litellm()
    kluster_emulator_env.controls.malformed_json(times=5)
    with pytest.raises(KlusterResponseError) as info:
        litellm.completion(model=f"kluster/{MODEL}", messages=user("hi"), num_retries=0)
    assert isinstance(info.value, litellm.APIError)


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
def test_litellm_stream_fault_is_typed_never_short(kluster_emulator_env: Emulator, fault: str) -> None:
    litellm = _litellm()
    STREAM_FAULTS[fault](kluster_emulator_env.controls)
    with pytest.raises(litellm.exceptions.MidStreamFallbackError) as info:  # LiteLLM's own mid-stream type
        for _ in litellm.completion(model=f"kluster/{MODEL}", messages=user(LONG), stream=True, num_retries=0):
            pass
    assert isinstance(info.value.original_exception, KlusterStreamError)


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
def test_litellm_provider_chunk_iterator_raises_kluster_stream_error(
    kluster_emulator_env: Emulator, fault: str
) -> None:
    _litellm()
    from kluster_agents.adapters.litellm._stream import chunks

    client = make_client(kluster_emulator_env.settings, max_retries=0)
    STREAM_FAULTS[fault](kluster_emulator_env.controls)
    stream = client.chat.completions.create(model=MODEL, messages=user(LONG), stream=True)
    with pytest.raises(KlusterStreamError) as info:
        list(chunks(stream, reasoning=False, model=MODEL))
    assert isinstance(info.value, _litellm().APIConnectionError)  # a Router retries it


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
async def test_litellm_async_stream_fault_typed(kluster_emulator_env: Emulator, fault: str) -> None:
    litellm = _litellm()
    STREAM_FAULTS[fault](kluster_emulator_env.controls)
    with pytest.raises(litellm.exceptions.MidStreamFallbackError) as info:
        async for _ in await litellm.acompletion(
            model=f"kluster/{MODEL}", messages=user(LONG), stream=True, num_retries=0
        ):
            pass
    assert isinstance(info.value.original_exception, KlusterStreamError)


# -- batch engine ----------------------------------------------------------------------------------
def _batch_requests(n: int) -> list[dict[str, Any]]:
    return [{"model": MODEL, "messages": user(f"prompt {i}")} for i in range(n)]


def test_batch_lost_create_response_makes_exactly_one_job(kluster_emulator: Emulator, tmp_path: Any) -> None:
    """The POST /batches reaches the server (the job exists) but the answer is cut off: the engine must
    find that job instead of creating a second, double-billed one."""
    from kluster_agents.integrations._jobs.batch.run import run_batch

    controls = kluster_emulator.controls
    controls.reset_connections(path="/v1/batches", times=1)
    results = run_batch(
        _batch_requests(4), settings=kluster_emulator.settings, journal=tmp_path / "j.db", poll_interval=0.01
    )
    assert [r.ok for r in results] == [True] * 4
    assert controls.count("/batches", "POST") == 1
    assert len(make_client(kluster_emulator.settings).batches.list(limit=100).data) == 1


def test_batch_transport_never_retries_create(kluster_emulator: Emulator, tmp_path: Any) -> None:
    """Even with SDK retries configured, a failed create is reconciled, not blindly re-sent."""
    from kluster_agents.integrations._jobs.batch.run import run_batch

    controls = kluster_emulator.controls
    controls.reset_connections(path="/v1/batches", times=1)
    client = make_client(kluster_emulator.settings, max_retries=5)
    results = run_batch(_batch_requests(2), settings=kluster_emulator.settings, client=client, journal=False)
    assert all(r.ok for r in results) and controls.count("/batches", "POST") == 1


def test_batch_reset_during_result_download_resumes(kluster_emulator: Emulator) -> None:
    from kluster_agents.integrations._jobs.batch.run import run_batch

    controls = kluster_emulator.controls
    controls.reset_connections(path="/v1/files/", times=2)  # the output file's content, twice
    results = run_batch(_batch_requests(5), settings=kluster_emulator.settings, journal=False, poll_interval=0.01)
    assert [r.index for r in results] == list(range(5)) and all(r.ok for r in results)
    downloads = [r for r in controls.requests if r.path.endswith("/content")]
    assert len(downloads) == 3  # two resets, then the resumed download


def test_batch_corrupt_output_line_is_a_warning_not_a_lost_run(kluster_emulator: Emulator) -> None:
    from kluster_agents.integrations._jobs.batch.decode import KlusterBatchWarning
    from kluster_agents.integrations._jobs.batch.run import run_batch

    kluster_emulator.controls.corrupt_batch_output(1)
    with pytest.warns(KlusterBatchWarning, match="skipped line"):
        results = run_batch(_batch_requests(3), settings=kluster_emulator.settings, journal=False, poll_interval=0.01)
    assert [r.index for r in results] == [0, 1, 2] and all(r.ok for r in results)


def _fake() -> Any:
    from kluster_agents.integrations._api.settings import KlusterSettings
    from tests.jobs.fake_api import API_KEY, BASE_URL, FakeKluster

    return FakeKluster(), KlusterSettings.load(api_key=API_KEY, base_url=BASE_URL)


def _rewrite_output(fake: Any, monkeypatch: pytest.MonkeyPatch, rewrite: Callable[[list[bytes]], list[bytes]]) -> None:
    real = fake._content

    def content(request: Any, file_id: str) -> Any:
        response = real(request, file_id)
        if file_id in fake.files and any(b.get("output_file_id") == file_id for b in fake.batches.values()):
            lines = fake.files[file_id].splitlines()
            return type(response)(200, content=b"\n".join(rewrite(lines)) + b"\n")
        return response

    monkeypatch.setattr(fake, "_content", content)


@pytest.mark.parametrize(
    "bad_line",
    [
        b'{"custom_id": "auto-1", "response": "not an object"}',
        b'{"custom_id": "auto-1", "response": {"status_code": 200, "body": {"choices": "nope"}}}',
        b'{"custom_id": "auto-1", "response": {"status_code": "two hundred", "body": null}}',
        b'{"custom_id": "auto-1", "response": {"status_code": 200, "body": []}}',
        b'{"custom_id": "auto-1", "error": ["weird"]}',
    ],
)
def test_batch_malformed_result_line_is_that_lines_typed_error(
    monkeypatch: pytest.MonkeyPatch, bad_line: bytes
) -> None:
    from kluster_agents.integrations._api.errors import KlusterBatchError
    from kluster_agents.integrations._jobs.batch.run import run_batch

    fake, settings = _fake()
    _rewrite_output(fake, monkeypatch, lambda lines: [bad_line if b'"auto-1"' in line else line for line in lines])
    results = run_batch(_batch_requests(4), settings=settings, client=fake.client(), journal=False, poll_interval=0)
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert [r.ok for r in results] == [True, False, True, True]
    with pytest.raises(KlusterBatchError) as info:
        results[1].unwrap()
    assert info.value.custom_id == "auto-1"


def test_batch_duplicate_custom_id_lines_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from kluster_agents.integrations._jobs.batch.decode import KlusterBatchWarning
    from kluster_agents.integrations._jobs.batch.run import run_batch

    fake, settings = _fake()
    _rewrite_output(fake, monkeypatch, lambda lines: [*lines, *[line for line in lines if b'"auto-2"' in line]])
    with pytest.warns(KlusterBatchWarning, match="auto-2"):
        results = run_batch(_batch_requests(4), settings=settings, client=fake.client(), journal=False, poll_interval=0)
    assert [r.duplicate for r in results] == [False, False, True, False]
    assert [r.ok for r in results] == [True, True, False, True] and [r.index for r in results] == [0, 1, 2, 3]


def test_batch_stale_journal_entry_is_reported_and_resubmitted(tmp_path: Any) -> None:
    from kluster_agents.integrations._jobs.batch.decode import KlusterBatchWarning
    from kluster_agents.integrations._jobs.batch.run import run_batch
    from kluster_agents.integrations._jobs.batch.submit import submit_batch

    fake, settings = _fake()
    journal = tmp_path / "journal.db"
    fake.polls_to_finish = 3
    submit_batch(_batch_requests(3), settings=settings, client=fake.client(), journal=journal).close()  # "crash"
    fake.batches.clear()  # the job and its file are gone on the server (deleted, or another account)
    fake.files.clear()
    fake.polls_to_finish = 1
    with pytest.warns(KlusterBatchWarning, match="no longer has it"):
        results = run_batch(
            _batch_requests(3), settings=settings, client=fake.client(), journal=journal, poll_interval=0
        )
    assert all(r.ok for r in results) and len(fake.batches) == 1
    # and the journal now points at the new job: a third run of the same (finished) input starts afresh
    assert run_batch(_batch_requests(3), settings=settings, client=fake.client(), journal=journal, poll_interval=0)


def test_batch_reconcile_searches_every_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The journal knows the file but not the job; the job is older than the newest 100 batches."""
    from kluster_agents.integrations._jobs.batch.run import run_batch
    from kluster_agents.integrations._jobs.journal import Journal

    fake, settings = _fake()
    real_record = Journal.record

    def lose_batch_id(
        self: Any, run_key: str, chunk: int, *, file_id: str | None = None, batch_id: str | None = None
    ) -> None:
        if batch_id is not None:
            raise KeyboardInterrupt
        real_record(self, run_key, chunk, file_id=file_id)

    monkeypatch.setattr(Journal, "record", lose_batch_id)
    with pytest.raises(KeyboardInterrupt):
        run_batch(_batch_requests(2), settings=settings, client=fake.client(), journal=tmp_path / "j.db")
    monkeypatch.setattr(Journal, "record", real_record)
    [ours] = list(fake.batches)
    for i in range(150):  # newer batches push ours off the first page
        fake.batches[f"batch-newer-{i}"] = {
            **fake.batches[ours],
            "id": f"batch-newer-{i}",
            "input_file_id": f"file-x{i}",
            "metadata": {},
        }

    def paged_list(request: Any) -> Any:
        after = request.url.params.get("after")
        data = [{k: v for k, v in b.items() if not k.startswith("_")} for b in reversed(fake.batches.values())]
        start = next((i + 1 for i, b in enumerate(data) if b["id"] == after), 0)
        page = data[start : start + 100]
        return type(fake._batch_json(ours))(
            200, json={"object": "list", "data": page, "has_more": start + 100 < len(data)}
        )

    monkeypatch.setattr(fake, "_batch_list", paged_list)
    listed_before = fake.count("GET", "/batches")  # the first run's own lookups (cross-worker reconcile)
    results = run_batch(
        _batch_requests(2), settings=settings, client=fake.client(), journal=tmp_path / "j.db", poll_interval=0
    )
    assert all(r.ok for r in results) and fake.count("POST", "/batches") == 1
    assert fake.count("GET", "/batches") - listed_before == 2  # two pages were read


async def test_batch_async_lost_create_response_makes_exactly_one_job(kluster_emulator: Emulator) -> None:
    from kluster_agents.integrations._jobs.batch.run import arun_batch

    controls = kluster_emulator.controls
    controls.reset_connections(path="/v1/batches", times=1)
    results = await arun_batch(
        _batch_requests(3), settings=kluster_emulator.settings, journal=False, poll_interval=0.01
    )
    assert [r.ok for r in results] == [True] * 3 and controls.count("/batches", "POST") == 1


async def test_microbatcher_malformed_line_fails_only_its_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    from kluster_agents.integrations._api.errors import KlusterBatchError
    from kluster_agents.integrations._jobs.microbatch import MicroBatcher

    fake, settings = _fake()
    _rewrite_output(
        fake,
        monkeypatch,
        lambda lines: [b'{"custom_id": "auto-1", "response": 42}' if b'"auto-1"' in line else line for line in lines],
    )
    async with MicroBatcher(settings, client=fake.client(), max_wait=0.01, poll_interval=0) as mb:
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(mb.complete({"model": MODEL, "messages": user(f"prompt {i}")}) for i in range(3)),
                return_exceptions=True,
            ),
            timeout=20,
        )
    assert isinstance(outcomes[1], KlusterBatchError)
    assert not isinstance(outcomes[0], BaseException) and not isinstance(outcomes[2], BaseException)


# -- timeouts: every adapter honours the settings' timeout -------------------------------------------
def test_litellm_honours_kluster_timeout(kluster_emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    litellm = _litellm()
    monkeypatch.setenv("KLUSTER_TIMEOUT", "0.5")
    kluster_emulator_env.controls.add_latency(3.0, times=1)
    with pytest.raises(litellm.Timeout) as info:  # with LiteLLM's own 6000 s default the 3 s answer would arrive
        litellm.completion(model=f"kluster/{MODEL}", messages=user("hi"), num_retries=0, max_retries=0)
    assert isinstance(info.value, KlusterTimeoutError)
    kluster_emulator_env.controls.add_latency(1.0, times=1)
    answer = litellm.completion(model=f"kluster/{MODEL}", messages=user("hi"), num_retries=0, timeout=10)
    assert answer.choices[0].message.content  # an explicit per-call timeout still wins


def test_crewai_stall_past_timeout_is_typed(kluster_emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("crewai")
    from kluster_agents.adapters.crewai import kluster_llm

    monkeypatch.setenv("KLUSTER_TIMEOUT", "0.5")
    kluster_emulator_env.controls.add_latency(3.0, times=1)
    with pytest.raises(KlusterTimeoutError):
        kluster_llm(MODEL, max_retries=0).call("hi")


def test_langchain_stall_past_timeout_is_typed(kluster_emulator_env: Emulator) -> None:
    pytest.importorskip("langchain_openai")
    from kluster_agents.adapters.langchain import ChatKluster

    kluster_emulator_env.controls.add_latency(3.0, times=1)
    with pytest.raises(KlusterTimeoutError):
        ChatKluster(model=MODEL, max_retries=0, timeout=0.5).invoke("hi")


async def test_pydantic_ai_stall_past_timeout_is_typed(
    kluster_emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLUSTER_TIMEOUT", "0.5")
    agent = _pydantic_agent(kluster_emulator_env)
    kluster_emulator_env.controls.add_latency(3.0, times=1)
    with pytest.raises(KlusterTimeoutError):
        await agent.run("hi")


@pytest.mark.parametrize("final_status", ["failed", "expired", "cancelled"])
def test_batch_job_level_endings_account_for_every_input(final_status: str) -> None:
    from kluster_agents.integrations._api.errors import KlusterBatchError
    from kluster_agents.integrations._jobs.batch.run import run_batch

    fake, settings = _fake()
    fake.final_status = final_status
    results = run_batch(_batch_requests(4), settings=settings, client=fake.client(), journal=False, poll_interval=0)
    assert [r.index for r in results] == [0, 1, 2, 3]  # nothing lost, in order
    for result in results:
        if not result.ok:
            with pytest.raises(KlusterBatchError):
                result.unwrap()
    if final_status == "failed":
        assert not any(r.ok for r in results)


def test_batch_missing_output_line_is_that_inputs_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from kluster_agents.integrations._api.errors import KlusterBatchError
    from kluster_agents.integrations._jobs.batch.run import run_batch

    fake, settings = _fake()
    _rewrite_output(fake, monkeypatch, lambda lines: [line for line in lines if b'"auto-2"' not in line])
    results = run_batch(_batch_requests(4), settings=settings, client=fake.client(), journal=False, poll_interval=0)
    assert [r.ok for r in results] == [True, True, False, True]
    with pytest.raises(KlusterBatchError, match="auto-2"):
        results[2].unwrap()


# -- Verify: a 429's Retry-After is capped and waited out by its own caller only ------------------
def _verify_client(handler: Callable[[Any], Any], **settings: Any) -> Any:
    import httpx

    from kluster_agents.integrations._api.limits import RateLimiter
    from kluster_agents.integrations._api.settings import KlusterSettings
    from kluster_agents.integrations._verify.client import VerifyClient

    loaded = KlusterSettings.load(api_key="sk-verify-matrix-key", base_url="http://kluster.test/v1", **settings)
    return VerifyClient(
        loaded,
        limiter=RateLimiter(rpm=None, concurrency=None),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )


def _verdict(request: Any) -> Any:
    import httpx

    return httpx.Response(200, json={"is_hallucination": False, "explanation": "supported"})


def _too_many(retry_after: str) -> Any:
    import httpx

    return httpx.Response(429, headers={"retry-after": retry_after}, json={"error": {"message": "rate limited"}})


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause the limiter takes, recorded instead of slept."""
    from kluster_agents.integrations._api import limits

    taken: list[float] = []

    async def asleep(seconds: float) -> None:
        taken.append(seconds)

    monkeypatch.setattr(limits, "_sleep", taken.append)
    monkeypatch.setattr(limits, "_asleep", asleep)
    return taken


@pytest.mark.parametrize("settings", [{}, {"max_retry_wait": 5}, {"timeout": 10}])
def test_verify_retry_after_past_the_cap_is_a_typed_429_at_once(sleeps: list[float], settings: Any) -> None:
    """A server asking for an hour gets the caller a `KlusterRateLimitError` now, not a frozen call."""
    seen: list[Any] = []
    client = _verify_client(lambda r: seen.append(r) or _too_many("3600"), **settings)
    with pytest.raises(KlusterRateLimitError) as info:
        client.verify("q", "a")
    assert info.value.retry_after == 3600 and "KLUSTER_MAX_RETRY_WAIT" in str(info.value)
    assert len(seen) == 1 and sleeps == []


async def test_verify_async_retry_after_past_the_cap_is_a_typed_429_at_once(sleeps: list[float]) -> None:
    seen: list[Any] = []
    client = _verify_client(lambda r: seen.append(r) or _too_many("3600"), max_retry_wait=30)
    with pytest.raises(KlusterRateLimitError) as info:
        await client.averify("q", "a")
    assert info.value.retry_after == 3600 and len(seen) == 1 and sleeps == []


def test_verify_retry_after_within_the_cap_is_waited_out(sleeps: list[float]) -> None:
    answers = iter([_too_many("20")])
    client = _verify_client(lambda r: next(answers, None) or _verdict(r), max_retry_wait=30)
    assert client.verify("q", "a").reliable and sleeps == [20.0]


def test_verify_429_for_one_caller_never_pauses_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the caller that got the 429 waits out its Retry-After, another Verify call goes through."""
    import threading

    from kluster_agents.integrations._api import limits

    first = iter([_too_many("20")])
    client = _verify_client(lambda r: next(first, None) or _verdict(r), max_retry_wait=30)
    other: list[Any] = []

    def wait_out(seconds: float) -> None:  # the first caller's wait: run the other caller meanwhile
        worker = threading.Thread(target=lambda: other.append(client.verify("other", "call")), daemon=True)
        worker.start()
        worker.join(timeout=30)

    monkeypatch.setattr(limits, "_sleep", wait_out)
    assert client.verify("q", "a").reliable
    assert len(other) == 1 and other[0].reliable  # done while the first caller was still waiting


# -- a 200 answer that is an HTML page (a proxy's or captive portal's) -------------------------------
_LOGIN_PAGE = b"<html><body><h1>Welcome to the hotel wifi</h1><form>Log in</form></body></html>"


class _Portal:
    """A local server answering every request 200 with the same body: by default an HTML login page."""

    def __init__(self, body: bytes = _LOGIN_PAGE, content_type: str = "text/html; charset=utf-8") -> None:
        self.body, self.content_type = body, content_type

    def __enter__(self) -> _Portal:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        body, content_type = self.body, self.content_type

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _pointing_at(server: _Portal, monkeypatch: pytest.MonkeyPatch) -> _Portal:
    monkeypatch.setenv("KLUSTER_BASE_URL", server.base_url)
    monkeypatch.setenv("KLUSTER_API_KEY", "sk-portal-test-key")
    monkeypatch.setenv("KLUSTER_MAX_RETRIES", "0")
    return server


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`KLUSTER_*` pointing at a captive portal, no retries."""
    with _Portal() as server:
        yield _pointing_at(server, monkeypatch)


@pytest.fixture
def no_choices(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`KLUSTER_*` pointing at a server answering 200 with a chat completion that has no `choices`."""
    body = {"id": "chat-1", "object": "chat.completion", "created": 1, "model": MODEL}
    with _Portal(json.dumps(body).encode(), "application/json") as server:
        yield _pointing_at(server, monkeypatch)


def _portal_settings(portal: Any) -> Any:
    from kluster_agents.integrations._api.settings import KlusterSettings

    return KlusterSettings.load(api_key="sk-portal-test-key", base_url=portal.base_url, max_retries=0)


HTML_CALLS: dict[str, Callable[[Any], Any]] = {
    "chat": lambda c: c.chat.completions.create(model=MODEL, messages=user("hi")),
    "stream": lambda c: list(c.chat.completions.create(model=MODEL, messages=user("hi"), stream=True)),
    **OTHER_CALLS,
    "models": lambda c: c.models.list(),
    "batches": lambda c: c.batches.list(),
}


@pytest.mark.parametrize("call", list(HTML_CALLS))
def test_html_200_is_a_typed_response_error(portal: Any, call: str) -> None:
    client = make_client(_portal_settings(portal), max_retries=0)
    with pytest.raises(KlusterResponseError) as info:
        HTML_CALLS[call](client)
    assert isinstance(info.value, openai.APIError)  # what openai users and framework retry logic catch


@pytest.mark.parametrize("call", ["chat", "stream", *OTHER_CALLS])
async def test_html_200_async_is_a_typed_response_error(portal: Any, call: str) -> None:
    client = make_async_client(_portal_settings(portal), max_retries=0)
    with pytest.raises(KlusterResponseError):
        if call == "stream":
            async for _ in await client.chat.completions.create(model=MODEL, messages=user("hi"), stream=True):
                pass
        else:
            await HTML_CALLS[call](client)


def test_html_200_langchain_typed(portal: Any) -> None:
    llm = _langchain(portal)
    with pytest.raises(KlusterResponseError):
        llm.invoke("hi")
    with pytest.raises(KlusterResponseError):
        "".join(str(chunk.content) for chunk in llm.stream("hi"))


def test_html_200_langchain_embeddings_typed(portal: Any) -> None:
    pytest.importorskip("langchain_core")
    from kluster_agents.adapters.langchain import KlusterEmbeddings

    with pytest.raises(KlusterResponseError):
        KlusterEmbeddings(model=EMBEDDING_MODEL).embed_query("hi")


def test_html_200_litellm_typed(portal: Any) -> None:
    litellm = _litellm()
    with pytest.raises(KlusterResponseError) as info:
        litellm.completion(model=f"kluster/{MODEL}", messages=user("hi"), num_retries=0)
    assert isinstance(info.value, litellm.APIError)
    with pytest.raises(KlusterResponseError):
        litellm.embedding(model=f"kluster/{EMBEDDING_MODEL}", input=["hi"], num_retries=0)


def test_html_200_crewai_typed(portal: Any) -> None:
    with pytest.raises(KlusterResponseError):
        _crewai_llm(portal).call("hi")


async def test_html_200_pydantic_ai_typed(portal: Any) -> None:
    from kluster_agents.integrations._api.settings import KlusterSettings

    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent

    from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model

    agent = Agent(kluster_model(MODEL, provider=KlusterProvider(settings=KlusterSettings.load())))
    with pytest.raises(KlusterResponseError):
        await agent.run("hi")


# -- a 200 chat completion without `choices` -------------------------------------------------------
def test_no_choices_is_a_typed_response_error_on_every_path(no_choices: Any) -> None:
    """Every adapter reads completions its own way (parsed, raw, as JSON): each gets the typed error."""
    client = make_client(_portal_settings(no_choices), max_retries=0)
    with pytest.raises(KlusterResponseError, match="no `choices` list"):
        client.chat.completions.create(model=MODEL, messages=user("hi"))
    with pytest.raises(KlusterResponseError, match="no `choices` list"):
        client.chat.completions.with_raw_response.create(model=MODEL, messages=user("hi"))
    with pytest.raises(KlusterResponseError, match="no `choices` list"):
        _langchain(no_choices).invoke("hi")
    litellm = _litellm()
    with pytest.raises(KlusterResponseError, match="no `choices` list") as info:
        litellm.completion(model=f"kluster/{MODEL}", messages=user("hi"), num_retries=0)
    assert isinstance(info.value, litellm.APIError)  # what LiteLLM's retries and fallbacks catch
    with pytest.raises(KlusterResponseError, match="no `choices` list"):
        _crewai_llm(no_choices).call("hi")


async def test_no_choices_is_a_typed_response_error_async(no_choices: Any) -> None:
    from kluster_agents.integrations._api.settings import KlusterSettings

    client = make_async_client(_portal_settings(no_choices), max_retries=0)
    with pytest.raises(KlusterResponseError, match="no `choices` list"):
        await client.chat.completions.create(model=MODEL, messages=user("hi"))
    with pytest.raises(KlusterResponseError, match="no `choices` list"):
        await _langchain(no_choices).ainvoke("hi")
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent

    from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model

    agent = Agent(kluster_model(MODEL, provider=KlusterProvider(settings=KlusterSettings.load())))
    with pytest.raises(KlusterResponseError, match="no `choices` list"):
        await agent.run("hi")
