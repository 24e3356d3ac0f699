"""A recognisable key through every error path: it must appear nowhere — not in str/repr of the
error, its body, message, response text, the whole `__cause__`/`__context__` chain (a printed
traceback), DEBUG logs, CLI output or the batch journal. Long keys and short ones (under 12 chars).

The server here misbehaves on purpose: it echoes the Authorization header back in its 401/500
bodies (seen from proxies and gateways), which is the hardest case for redaction.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from kluster_agents.integrations._api.client import make_async_client, make_client, translate_errors
from kluster_agents.integrations._api.errors import KlusterAPIError, KlusterAuthError, KlusterError
from kluster_agents.integrations._api.settings import KlusterSettings

from .conftest import MODEL, user

pytestmark = pytest.mark.timeout(60)

LONG_KEY = "LEAKCANARY-long-0123456789abcdef"
SHORT_KEY = "Lk7q2x"  # shorter than 12 characters: once never redacted
KEYS = [LONG_KEY, SHORT_KEY]


def _echo_body(request_auth: str, status: int) -> dict[str, Any]:
    key = request_auth.removeprefix("Bearer ").strip()
    return {
        "error": {
            "message": f"Invalid API key {key} (header was {request_auth!r})",
            "type": "invalid_request_error" if status < 500 else "server_error",
            "key": key,
        }
    }


def _echo_transport(status: int) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=_echo_body(request.headers.get("authorization", ""), status))

    return httpx.MockTransport(handler)


def _async_echo_transport(status: int) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=_echo_body(request.headers.get("authorization", ""), status))

    return httpx.MockTransport(handler)


def _settings(key: str) -> KlusterSettings:
    return KlusterSettings.load(api_key=key, base_url="https://echo.invalid/v1", max_retries=0)


def everything_about(exc: BaseException) -> str:
    """Every text an error exposes: str/repr of each link of the chain, the printed traceback,
    bodies, messages and response texts."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        parts += [str(link), repr(link), repr(getattr(link, "args", ""))]
        for attr in ("body", "message"):
            parts.append(repr(getattr(link, attr, None)))
        response = getattr(link, "response", None)
        if isinstance(response, httpx.Response):
            parts.append(response.text)
        parts.append(json.dumps(getattr(link, "__dict__", {}), default=repr))
        link = link.__cause__ or link.__context__
    return "\n".join(parts)


def assert_clean(text: str, key: str) -> None:
    assert key not in text, f"the key leaked: ...{text[max(0, text.find(key) - 80) : text.find(key) + 40]}..."


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


# -- core client ---------------------------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("status,error", [(401, KlusterAuthError), (500, KlusterAPIError)])
def test_core_sync_echoed_key_never_shown(
    key: str, status: int, error: type[KlusterError], _debug_logs: pytest.LogCaptureFixture
) -> None:
    client = make_client(_settings(key), http_client=httpx.Client(transport=_echo_transport(status)))
    with pytest.raises(error) as info:
        client.chat.completions.create(model=MODEL, messages=user("hi"))
    assert "***" in str(info.value)  # the server text is kept, with the key replaced
    assert_clean(everything_about(info.value), key)
    assert_clean(_debug_logs.text, key)


@pytest.mark.parametrize("key", KEYS)
async def test_core_async_echoed_key_never_shown(key: str, _debug_logs: pytest.LogCaptureFixture) -> None:
    client = make_async_client(_settings(key), http_client=httpx.AsyncClient(transport=_async_echo_transport(401)))
    with pytest.raises(KlusterAuthError) as info:
        await client.chat.completions.create(model=MODEL, messages=user("hi"))
    assert_clean(everything_about(info.value), key)
    assert_clean(_debug_logs.text, key)


@pytest.mark.parametrize("key", KEYS)
def test_translate_errors_path_never_shows_the_key(key: str) -> None:
    """The batch engine, CLI and jobs go through `translate_errors` with plain SDK calls."""
    client = make_client(_settings(key), http_client=httpx.Client(transport=_echo_transport(401)))
    with pytest.raises(KlusterAuthError) as info, translate_errors():
        client.files.list()
    assert_clean(everything_about(info.value), key)


EMBEDDING_MODEL = "BAAI/bge-m3"

# every endpoint of a `make_client()` client, not only chat completions
SYNC_CALLS: dict[str, Any] = {
    "embeddings.create": lambda c: c.embeddings.create(model=EMBEDDING_MODEL, input="hi"),
    "parse": lambda c: c.chat.completions.parse(
        model=MODEL, messages=user("hi"), response_format={"type": "json_object"}
    ),
    "models.list": lambda c: c.models.list(),
    "batches.list": lambda c: c.batches.list(),
}


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("call", list(SYNC_CALLS))
def test_every_endpoint_hides_an_echoed_key(key: str, call: str, _debug_logs: pytest.LogCaptureFixture) -> None:
    client = make_client(_settings(key), http_client=httpx.Client(transport=_echo_transport(401)))
    with pytest.raises(KlusterAuthError) as info:
        SYNC_CALLS[call](client)
    assert_clean(everything_about(info.value), key)
    assert_clean(_debug_logs.text, key)


@pytest.mark.parametrize("key", KEYS)
async def test_async_embeddings_hide_an_echoed_key(key: str) -> None:
    client = make_async_client(_settings(key), http_client=httpx.AsyncClient(transport=_async_echo_transport(401)))
    with pytest.raises(KlusterAuthError) as info:
        await client.embeddings.create(model=EMBEDDING_MODEL, input="hi")
    assert_clean(everything_about(info.value), key)


def test_key_with_trailing_newline_never_shown() -> None:
    key = LONG_KEY + "\n"
    client = make_client(_settings(key), http_client=httpx.Client(transport=_echo_transport(401)))
    with pytest.raises(KlusterAuthError) as info:
        client.chat.completions.create(model=MODEL, messages=user("hi"))
    assert_clean(everything_about(info.value), LONG_KEY)


@pytest.mark.parametrize("key", KEYS)
def test_settings_repr_and_dump_hide_the_key(key: str) -> None:
    settings = _settings(key)
    assert_clean(repr(settings) + str(settings) + str(settings.model_dump()), key)


# -- adapters ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS)
def test_langchain_echoed_key_never_shown(key: str, _debug_logs: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("langchain_openai")
    from kluster_agents.adapters.langchain import ChatKluster

    llm = ChatKluster(
        model=MODEL,
        api_key=key,
        base_url="https://echo.invalid/v1",
        max_retries=0,
        http_client=httpx.Client(transport=_echo_transport(401)),
    )
    with pytest.raises(KlusterAuthError) as info:
        llm.invoke("hi")
    assert_clean(everything_about(info.value), key)
    assert_clean(repr(llm) + str(llm.model_dump()), key)
    assert_clean(_debug_logs.text, key)


@pytest.mark.parametrize("key", KEYS)
def test_crewai_echoed_key_never_shown(key: str, _debug_logs: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("crewai")
    from kluster_agents.adapters.crewai import kluster_llm

    llm = kluster_llm(MODEL, api_key=key, base_url="https://echo.invalid/v1", max_retries=0)
    llm.use_http_clients(
        httpx.Client(transport=_echo_transport(401)), httpx.AsyncClient(transport=_async_echo_transport(401))
    )
    with pytest.raises(KlusterAuthError) as info:
        llm.call("hi")
    assert_clean(everything_about(info.value), key)
    assert_clean(repr(llm), key)
    assert_clean(_debug_logs.text, key)


@pytest.mark.parametrize("key", KEYS)
async def test_pydantic_ai_echoed_key_never_shown(key: str, _debug_logs: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent

    from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model

    provider = KlusterProvider(
        settings=_settings(key), http_client=httpx.AsyncClient(transport=_async_echo_transport(401))
    )
    agent = Agent(kluster_model(MODEL, provider=provider))
    with pytest.raises(KlusterAuthError) as info:
        await agent.run("hi")
    assert_clean(everything_about(info.value), key)
    assert_clean(_debug_logs.text, key)


@pytest.mark.parametrize("key", KEYS)
def test_litellm_echoed_key_never_shown(key: str, _debug_logs: pytest.LogCaptureFixture) -> None:
    litellm = pytest.importorskip("litellm")
    from kluster_agents.adapters.litellm import register

    register()
    litellm.suppress_debug_info = True
    server = _EchoServer()
    with server:
        with pytest.raises(Exception) as info:  # LiteLLM maps a 401 to its own AuthenticationError
            litellm.completion(
                model=f"kluster/{MODEL}", messages=user("hi"), api_key=key, api_base=server.base_url, num_retries=0
            )
    assert isinstance(info.value, litellm.AuthenticationError)
    assert_clean(everything_about(info.value), key)


@pytest.mark.parametrize("key", KEYS)
def test_langchain_embeddings_hide_an_echoed_key(key: str, _debug_logs: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("langchain_core")
    from kluster_agents.adapters.langchain import KlusterEmbeddings

    with _EchoServer() as server:
        embeddings = KlusterEmbeddings(model=EMBEDDING_MODEL, api_key=key, base_url=server.base_url, max_retries=0)
        with pytest.raises(KlusterAuthError) as info:
            embeddings.embed_query("hi")
    assert_clean(everything_about(info.value), key)
    assert_clean(_debug_logs.text, key)


@pytest.mark.parametrize("key", KEYS)
def test_litellm_embedding_hides_an_echoed_key(key: str, _debug_logs: pytest.LogCaptureFixture) -> None:
    litellm = pytest.importorskip("litellm")
    from kluster_agents.adapters.litellm import register

    register()
    litellm.suppress_debug_info = True
    with _EchoServer() as server, pytest.raises(Exception) as info:
        litellm.embedding(
            model=f"kluster/{EMBEDDING_MODEL}", input=["hi"], api_key=key, api_base=server.base_url, num_retries=0
        )
    assert isinstance(info.value, litellm.AuthenticationError)
    assert_clean(everything_about(info.value), key)
    assert_clean(_debug_logs.text, key)


# -- CLI and journal -------------------------------------------------------------------------------
class _EchoServer:
    """A real local HTTP server answering every request with 401 and the Authorization header echoed."""

    def __enter__(self) -> _EchoServer:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                body = json.dumps(_echo_body(self.headers.get("authorization", ""), 401)).encode()
                self.send_response(401)
                self.send_header("content-type", "application/json")
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


@pytest.mark.parametrize("key", [*KEYS, LONG_KEY + "\n"])
@pytest.mark.parametrize("command", [["chat", "hello"], ["doctor"], ["models", "--refresh"], ["batch", "list"]])
def test_cli_never_prints_the_key(key: str, command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kluster_agents.integrations._cli.app import app

    with _EchoServer() as server:
        monkeypatch.setenv("KLUSTER_API_KEY", key)
        monkeypatch.setenv("KLUSTER_BASE_URL", server.base_url)
        monkeypatch.setenv("KLUSTER_MAX_RETRIES", "0")
        result = CliRunner().invoke(app, command)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += everything_about(result.exception)
    assert_clean(output, key.strip())


def test_journal_never_stores_the_key(tmp_path: Any) -> None:
    from kluster_agents.integrations._jobs.batch.run import run_batch
    from kluster_agents.integrations.emulator._server.server import Emulator

    journal = tmp_path / "journal.sqlite3"
    with Emulator(api_key=LONG_KEY) as emulator:
        results = run_batch(
            [{"model": MODEL, "messages": user(f"q{i}")} for i in range(3)],
            settings=emulator.settings,
            journal=journal,
            poll_interval=0.01,
        )
    assert [r.ok for r in results] == [True, True, True]
    data = journal.read_bytes()
    assert LONG_KEY.encode() not in data and b"Bearer" not in data


@pytest.mark.parametrize("key", KEYS)
def test_recording_emulator_never_relays_an_echoed_upstream_key(key: str, kluster_emulator: Any) -> None:
    """Recording through an upstream that echoes its key in a 401: the emulator's client (which only
    knows the emulator's key) must not receive the real one, in the raw answer or a typed error."""
    with _EchoServer() as upstream:
        kluster_emulator.record_cassette("unused.json", upstream_url=upstream.base_url, upstream_key=key)
        raw = httpx.post(
            f"{kluster_emulator.base_url}/chat/completions",
            json={"model": MODEL, "messages": user("hi")},
            headers={"authorization": f"Bearer {kluster_emulator.api_key}"},
        )
        with pytest.raises(KlusterAuthError) as info:
            make_client(kluster_emulator.settings, max_retries=0).models.list()
        kluster_emulator.runtime.cassette = None  # nothing to write
    assert raw.status_code == 401 and "***" in raw.text
    assert_clean(raw.text, key)
    assert_clean(everything_about(info.value), key)
