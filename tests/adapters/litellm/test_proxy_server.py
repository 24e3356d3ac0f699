"""The real LiteLLM proxy process, started from our generated config against the emulator, used
through the openai SDK: chat, stream, tools, and Verify guardrail verdicts.

Needs the `litellm-proxy` extra, which cannot share an environment with CrewAI, so `.ci/run` runs
it in its own (skipped in the default one): `UV_PROJECT_ENVIRONMENT=.venv-proxy uv run --locked
--no-default-groups --extra litellm-proxy --group proxy-test pytest tests/adapters/litellm/test_proxy_server.py`.
Passes with no network at all (checked under `unshare -rn`): the proxy gets LiteLLM's local cost
map, no telemetry and no Hugging Face downloads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import openai
import pytest
import yaml

from kluster_agents.integrations.emulator._model.verify_heuristic import Verifier
from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import LLAMA, LLAMA_8B, WEATHER_TOOL

pytestmark = [
    pytest.mark.proxy,
    pytest.mark.skipif(
        importlib.util.find_spec("litellm_proxy_extras") is None,
        reason="needs the litellm-proxy extra, in its own environment (it conflicts with crewai): see .ci/run",
    ),
]

BIN = Path(sys.executable).parent
QUESTION = [{"role": "user", "content": "Where is the Eiffel Tower?"}]
WRONG, RIGHT = "The Eiffel Tower is in Rome.", "The Eiffel Tower is in Paris, France."
_START_TIMEOUT = 180.0  # LiteLLM's proxy imports a lot: ~25 s on a loaded 2-core machine


class Proxy(NamedTuple):
    url: str
    config: Path


def _offline_env(emulator: Emulator, home: Path) -> dict[str, str]:
    """The proxy's environment: the emulator as kluster (a dummy key), nothing phoning home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KLUSTER_", "OPENAI_", "LITELLM_"))}
    env.update(
        KLUSTER_API_KEY=emulator.api_key,  # the emulator's dummy key ("emulator")
        KLUSTER_BASE_URL=emulator.base_url,
        KLUSTER_TIER="core",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OTEL_SDK_DISABLED="true",
        NO_COLOR="1",
        HOME=str(home),  # nothing written into the user's home
    )
    return env


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the LiteLLM proxy exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/health/readiness", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the LiteLLM proxy was not ready after {_START_TIMEOUT:.0f} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """Our own emulator: it must outlive the proxy process, which learns its URL once at start."""
    with Emulator() as emu:
        yield emu


@pytest.fixture(scope="module")
def proxy(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory, free_port: Callable[[], int]
) -> Iterator[Proxy]:
    """`kluster-agents litellm-config` writes the config; `litellm --config` serves it."""
    home = tmp_path_factory.mktemp("proxy")
    env = _offline_env(emulator, home)
    config = home / "config.yaml"
    subprocess.run(
        [BIN / "kluster-agents", "litellm-config", "--tier", "core", "--model", LLAMA, "--model", LLAMA_8B],
        check=True,
        env=env,
        stdout=config.open("w"),
        timeout=120,
    )
    port = free_port()
    log = home / "proxy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                BIN / "litellm",
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--telemetry",
                "False",
            ],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log)
        yield Proxy(url, config)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def client(proxy: Proxy, emulator: Emulator) -> openai.OpenAI:
    emulator.reset()
    # max_retries=0: a guardrail rejection must reach the test as it is, not be sent again by the SDK
    return openai.OpenAI(base_url=proxy.url, api_key="sk-proxy-client", max_retries=0, timeout=120)


def _chats(emulator: Emulator) -> list[dict]:
    return [r.body for r in emulator.controls.requests if r.path == "/v1/chat/completions"]


def test_generated_config_has_the_guardrail_and_fallbacks(proxy: Proxy):
    config = yaml.safe_load(proxy.config.read_text())
    assert config["guardrails"][0]["litellm_params"]["on_hallucination"] == "retry"
    assert {LLAMA: [LLAMA_8B]} in config["router_settings"]["fallbacks"]


def test_chat_completion_through_the_proxy(client: openai.OpenAI, emulator: Emulator):
    answer = client.chat.completions.create(model=LLAMA, messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "[emulated] reply to: hi"
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    assert [b["model"] for b in _chats(emulator)] == [LLAMA]
    assert emulator.controls.count("/verify/reliability") == 1  # the default-on guardrail checked it


def test_stream_through_the_proxy(client: openai.OpenAI, emulator: Emulator):
    stream = client.chat.completions.create(
        model=LLAMA, messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "[emulated] reply to: hi" and len(chunks) > 2
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = next(c.usage for c in chunks if c.usage is not None)
    assert usage.completion_tokens > 0
    assert _chats(emulator)[-1]["stream"] is True


def test_tool_call_round_trip_through_the_proxy(client: openai.OpenAI, emulator: Emulator):
    messages: list[dict] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat.completions.create(model=LLAMA, messages=messages, tools=[WEATHER_TOOL])
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = first.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18°C, sunny"},
    ]
    final = client.chat.completions.create(model=LLAMA, messages=messages, tools=[WEATHER_TOOL])
    assert final.choices[0].finish_reason == "stop" and final.choices[0].message.content
    sent = _chats(emulator)
    assert sent[0]["tools"][0]["function"]["name"] == "get_weather"
    assert [m["role"] for m in sent[1]["messages"]] == ["user", "assistant", "tool"]


def test_flagged_answer_is_regenerated_through_the_proxy_router(client: openai.OpenAI, emulator: Emulator):
    emulator.controls.script(WRONG, RIGHT)
    answer = client.chat.completions.create(model=LLAMA, messages=QUESTION)
    assert answer.choices[0].message.content == RIGHT
    retry = _chats(emulator)[1]["messages"]
    assert retry[1] == {"role": "assistant", "content": WRONG}
    assert "Verify flagged your previous answer" in retry[2]["content"]


def test_verify_rejection_returns_the_explanation_and_does_not_fall_back(client: openai.OpenAI, emulator: Emulator):
    """on_hallucination=retry with max_retries=2 (the generated config): three flagged answers, then
    a 400 naming Verify's explanation; no other model is asked (the 8B deployment is a fallback).
    The guardrail caches verdicts, so Verify itself may be asked fewer than three times."""
    emulator.controls.script(WRONG, WRONG, WRONG, WRONG, WRONG, WRONG)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=LLAMA, messages=QUESTION)
    explanation = Verifier().check(QUESTION[0]["content"], WRONG)["explanation"]
    message = str(caught.value)
    assert caught.value.status_code == 400
    assert explanation in message and "Verify flagged the output" in message, message
    assert "no setter" not in message
    assert [b["model"] for b in _chats(emulator)] == [LLAMA] * 3
