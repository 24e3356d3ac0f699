"""The inspector's data side without a browser: token, what each request records, the
`x-kluster-compat` summary the client sends, stream reassembly, redaction, faults and the loss
events of fine-tuning."""

from __future__ import annotations

import io
import json
import warnings
from typing import Any

import httpx
import openai
import pytest

from kluster_agents.integrations import make_client
from kluster_agents.integrations._api.compat_trace import COMPAT_HEADER, compat_changes, sends_compat_header
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations.emulator._inspector.request_view import framework_of, reassemble_stream
from kluster_agents.integrations.emulator._inspector.sections import loss_curve_svg
from kluster_agents.integrations.emulator._server.server import Emulator

from .helpers import LLAMA_8B, user

SECRET = "sk-inspector-secret-0123456789"


@pytest.fixture
def secret_emulator() -> Any:
    with Emulator(api_key=SECRET) as emulator:
        yield emulator


def _inspector(emulator: Emulator) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{emulator.port}/inspector/", timeout=10)


def _get(emulator: Emulator, path: str, **params: str) -> httpx.Response:
    with _inspector(emulator) as http:
        return http.get(path, params={"token": emulator.runtime.inspector_token, **params})


# -- access -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "api/requests", "fragments/batches", "fragments/request/1"])
def test_without_the_token_every_inspector_route_answers_401(kluster_emulator: Emulator, path: str) -> None:
    with _inspector(kluster_emulator) as http:
        assert http.get(path).status_code == 401
        assert http.get(path, params={"token": "wrong"}).status_code == 401
        assert http.get(path, headers={"Authorization": f"Bearer {kluster_emulator.api_key}"}).status_code == 401
        assert http.post("api/faults", json={"kind": "drop"}).status_code == 401
    assert kluster_emulator.controls.faults.armed() == []


def test_the_token_url_sets_a_cookie_that_later_requests_use(kluster_emulator: Emulator) -> None:
    with httpx.Client(timeout=10) as http:
        page = http.get(kluster_emulator.inspector_url)
        assert page.status_code == 200 and "kluster emulator · inspector" in page.text
        assert "EMULATED" in page.text and "http" not in page.text.split("<script>")[1].split("fetch(")[0]
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        base = kluster_emulator.inspector_url.split("?")[0]
        assert http.get(base + "api/requests").status_code == 200  # the cookie, no token in the URL


def test_inspector_traffic_is_not_logged_and_url_binds_loopback(kluster_emulator: Emulator) -> None:
    _get(kluster_emulator, "api/requests")
    assert kluster_emulator.controls.requests == []
    assert kluster_emulator.inspector_url.startswith(f"http://127.0.0.1:{kluster_emulator.port}/inspector/?token=")


def test_emulate_banner_prints_the_inspector_url(kluster_emulator: Emulator) -> None:
    from kluster_agents.integrations.emulator._server.emulate_command import banner

    assert f"inspector: {kluster_emulator.inspector_url}" in banner(kluster_emulator)


# -- what a request records ------------------------------------------------------------------------------


def test_request_records_framework_compat_latency_tokens_and_hides_the_key(secret_emulator: Emulator) -> None:
    client = make_client(secret_emulator.settings)
    with warnings.catch_warnings():  # compat warns once per process; not what this test is about
        warnings.simplefilter("ignore")
        client.chat.completions.create(
            model=LLAMA_8B,
            messages=[{"role": "user", "content": f"my key is {SECRET}", "name": "bob"}],
            max_tokens=20,
            store=True,
        )
    [row] = _get(secret_emulator, "api/requests").json()["requests"]
    assert row["framework"] == "SDK" and row["status"] == 200 and row["compat"] is True
    assert row["tokens"] > 0 and row["latency_ms"] >= 0 and row["model"] == LLAMA_8B
    detail = _get(secret_emulator, f"fragments/request/{row['id']}").text
    assert "<b>dropped</b> <code>store</code>" in detail
    assert "<code>max_tokens</code> → <code>max_completion_tokens</code>" in detail
    assert "messages[0]</b>: dropped name" in detail
    assert SECRET not in detail and "***" in detail
    assert SECRET not in _get(secret_emulator, "api/requests").text


def test_compat_header_carries_names_not_content() -> None:
    original = {
        "model": "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo",
        "messages": [
            {"role": "user", "content": "private words", "name": "bob"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "function": {"name": "f"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "secret result"},
        ],
        "max_tokens": 10,
        "store": True,
        "functions": [{"name": "f", "description": "private tool"}],
    }
    prepared = {
        "model": original["model"],
        "messages": [
            {"role": "user", "content": "private words"},
            {"role": "assistant", "content": "[called tool ...]"},
            {"role": "user", "content": "[result ...]"},
        ],
        "max_completion_tokens": 10,
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    changes = compat_changes(original, prepared)
    assert changes["dropped"] == ["store"]
    assert changes["translated"] == {"max_tokens": "max_completion_tokens", "functions": "tools"}
    assert changes["messages"][0] == {"index": 0, "dropped": ["name"]}
    assert changes["messages"][1]["rewritten"] == "tool calls as text"
    assert changes["messages"][2]["role"] == "tool->user"
    text = json.dumps(changes)
    assert "private" not in text and "secret" not in text


@pytest.mark.parametrize(
    ("base_url", "setting", "sent"),
    [
        ("http://127.0.0.1:8765/v1", "auto", True),
        ("http://localhost:8765/v1", "auto", True),
        ("https://api.kluster.ai/v1", "auto", False),
        ("https://api.kluster.ai/v1", "true", True),
        ("http://127.0.0.1:8765/v1", "false", False),
        ("http://127.0.0.1:8765/v1", "never", False),
    ],
)
def test_compat_header_setting(base_url: str, setting: str, sent: bool) -> None:
    assert sends_compat_header(KlusterSettings(base_url=base_url, send_compat_header=setting)) is sent


def test_compat_header_reaches_the_wire_only_when_enabled(kluster_emulator: Emulator) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    for setting in ("never", "always"):
        settings = KlusterSettings(api_key="k", base_url="https://api.kluster.ai/v1", send_compat_header=setting)
        client = make_client(settings, http_client=httpx.Client(transport=httpx.MockTransport(handler)), max_retries=0)
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model=LLAMA_8B, messages=user("hi"), max_tokens=5)
    assert COMPAT_HEADER not in seen[0].headers
    assert json.loads(seen[1].headers[COMPAT_HEADER]) == {"translated": {"max_tokens": "max_completion_tokens"}}
    assert b"max_completion_tokens" in seen[1].content and COMPAT_HEADER.encode() not in seen[1].content


@pytest.mark.parametrize(
    ("user_agent", "framework"),
    [
        ("kluster-agents/0.1.0 langchain-core/1.7.0", "LangChain"),
        ("kluster-agents/0.1.0 litellm/1.105.0", "LiteLLM"),
        ("kluster-agents/0.1.0 crewai/1.15.0", "CrewAI"),
        ("kluster-agents/0.1.0 pydantic-ai/2.31.1", "PydanticAI"),
        ("kluster-agents/0.1.0 kluster-agents-cli", "CLI"),
        ("kluster-agents/0.1.0", "SDK"),
        ("OpenAI/Python 2.8.0", "OpenAI SDK"),
        ("curl/8.0", "other"),
    ],
)
def test_framework_from_user_agent(user_agent: str, framework: str) -> None:
    assert framework_of(user_agent) == framework


def test_streamed_response_is_reassembled_and_truncation_shows(kluster_emulator: Emulator) -> None:
    client = openai.OpenAI(base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key, max_retries=0)
    list(client.chat.completions.create(model=LLAMA_8B, messages=user("stream me"), stream=True))
    kluster_emulator.controls.truncate_streams(after_chunks=1)
    list(client.chat.completions.create(model=LLAMA_8B, messages=user("cut me"), stream=True))
    second, first = _get(kluster_emulator, "api/requests").json()["requests"]
    assert first["framework"] == "OpenAI SDK" and first["stream"] and not first["fault"]
    assert second["fault"] == "truncate"
    full = _get(kluster_emulator, f"fragments/request/{first['id']}").text
    assert "stream reassembled" in full and "reply to: stream me" in full and "&quot;complete&quot;: true" in full
    cut = _get(kluster_emulator, f"fragments/request/{second['id']}").text
    assert "&quot;complete&quot;: false" in cut and "truncate" in cut


def test_reassemble_stream_joins_tool_call_deltas() -> None:
    chunks = [
        {
            "choices": [
                {"delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "get_", "arguments": "{"}}]}}
            ]
        },
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"name": "weather", "arguments": "}"}}]}}]},
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}], "usage": {"total_tokens": 7}},
    ]
    raw = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    result = reassemble_stream(raw)
    assert result["tool_calls"] == [{"id": "c1", "name": "get_weather", "arguments": "{}"}]
    assert (result["finish_reason"], result["usage"], result["complete"]) == ("tool_calls", {"total_tokens": 7}, True)


# -- faults -----------------------------------------------------------------------------------------------


def test_page_arms_a_429_with_retry_after_for_the_next_n_requests(kluster_emulator: Emulator) -> None:
    with _inspector(kluster_emulator) as http:
        http.cookies.set("kluster_inspector", kluster_emulator.runtime.inspector_token)
        armed = http.post("api/faults", json={"kind": "429", "times": "2", "seconds": "7"})
        assert armed.json() == {"armed": "HTTP 429 (Retry-After 7 s)", "times": 2}
        assert "HTTP 429 (Retry-After 7 s)" in http.get("fragments/faults").text
        assert http.post("api/faults", json={"kind": "explode"}).status_code == 400
        assert http.post("api/faults", content=b'{"kind":"drop"}').status_code == 415  # no cross-site form posts
    client = openai.OpenAI(base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key, max_retries=0)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as caught:
            client.models.list()
        assert caught.value.response.headers["retry-after"] == "7"
    assert client.models.list().data
    rows = _get(kluster_emulator, "api/requests").json()["requests"]
    assert [r["status"] for r in rows] == [200, 429, 429] and rows[1]["fault"] == "status"
    assert "Nothing armed" in _get(kluster_emulator, "fragments/faults").text


def test_dropped_connection_is_listed_without_status(kluster_emulator: Emulator) -> None:
    kluster_emulator.controls.drop_connections(times=1)
    client = openai.OpenAI(base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key, max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.models.list()
    [row] = _get(kluster_emulator, "api/requests").json()["requests"]
    assert row["status"] is None and row["fault"] == "drop"


# -- fine-tuning loss ------------------------------------------------------------------------------------


def test_fine_tuning_emits_step_loss_events_and_the_page_draws_them(kluster_emulator: Emulator) -> None:
    client = openai.OpenAI(base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key, max_retries=0)
    kluster_emulator.controls.clock.freeze()
    data = "\n".join(
        json.dumps({"messages": [*user(f"q{i}"), {"role": "assistant", "content": f"a{i}"}]}) for i in range(6)
    )
    file_id = client.files.create(file=("t.jsonl", io.BytesIO(data.encode())), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(
        training_file=file_id, model=LLAMA_8B, hyperparameters={"n_epochs": 2, "batch_size": 2}
    )
    kluster_emulator.controls.advance(10_000)
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100).data][::-1]
    steps = [m for m in messages if m.startswith("Step ")]
    assert steps[0].startswith("Step 1/6: training loss=") and steps[-1].startswith("Step 6/6: training loss=")
    losses = [float(m.rsplit("=", 1)[1]) for m in steps]
    assert losses[-1] < losses[0]
    assert "Checkpoint created at step 6" in messages
    assert messages.index("Checkpoint created at step 6") < next(
        i for i, m in enumerate(messages) if m.startswith("New fine-tuned model")
    )
    page = _get(kluster_emulator, "fragments/finetune").text
    assert "<svg class='loss'" in page and "training loss over 6 steps" in page


def test_loss_curve_without_points_says_so() -> None:
    assert "No training-step events" in loss_curve_svg([], 0)


def test_mcp_tokens_never_show_even_after_they_change(kluster_emulator: Emulator) -> None:
    headers = {"Authorization": f"Bearer {kluster_emulator.api_key}"}
    with httpx.Client(base_url=kluster_emulator.base_url, headers=headers, timeout=10) as http:
        first = http.post("/mcp/enable").json()["token"]
        http.post("/mcp/disable")
        second = http.post("/mcp/enable").json()["token"]
    assert first != second
    rows = _get(kluster_emulator, "api/requests").json()["requests"]
    shown = "".join(_get(kluster_emulator, f"fragments/request/{r['id']}").text for r in rows)
    assert first not in shown and second not in shown and "***" in shown
    assert first not in repr(kluster_emulator.controls.requests)
