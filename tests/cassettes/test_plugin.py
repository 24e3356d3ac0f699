"""The user-facing surface: `@pytest.mark.kluster_cassette("name")` on a test that uses the plugin's
`kluster_emulator`, `pytest --kluster-record` to record it, and an unmatched request failing the
test with a readable diff. Each run is a real `pytest` process in a scratch project."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from kluster_agents.integrations.emulator._cassettes.cassette import CassetteMismatch
from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import UPSTREAM_KEY

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
USER_TEST = """
import openai
import pytest

@pytest.mark.kluster_cassette("greeting")
def test_greeting(kluster_emulator):
    client = openai.OpenAI(base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key, max_retries=0)
    reply = client.chat.completions.create(
        model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo",
        messages=[{"role": "user", "content": "PROMPT"}],
    )
    assert reply.choices[0].message.content
"""
SWALLOWING_TEST = """
import openai
import pytest

@pytest.mark.kluster_cassette("greeting")
def test_greeting(kluster_emulator):
    client = openai.OpenAI(base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key, max_retries=0)
    try:
        client.chat.completions.create(
            model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", messages=[{"role": "user", "content": "Changed"}]
        )
    except openai.APIStatusError:
        pass  # code under test that hides errors: the cassette still fails the test
"""
README_TEST = Path(__file__).with_name("readme_example.py")


# Plugins of unrelated installed packages (LangSmith's alone takes seconds to import) stay off.
UNRELATED_PLUGINS = ("-p", "no:langsmith_plugin", "-p", "no:codspeed", "-p", "no:benchmark")
PytestRun = Callable[..., Any]


@pytest.fixture
def run_pytest(script_runner: Any) -> PytestRun:
    """`python -m pytest -q ...` in `project` with no KLUSTER_* but `env`; returns the finished run."""

    def run(project: Path, *args: str, env: dict[str, str] | None = None) -> Any:
        base = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
        argv = ["-q", "-p", "no:randomly", "-p", "no:cacheprovider", *UNRELATED_PLUGINS, *args]
        runs = script_runner.run({"pytest": "pytest"}, module=True, args=argv, env={**base, **(env or {})}, cwd=project)
        return runs["pytest"]

    return run


def _project(tmp_path: Path, source: str, name: str = "test_user.py") -> Path:
    (tmp_path / name).write_text(source)
    return tmp_path


def test_record_switch_then_replay_through_the_marker(
    run_pytest: PytestRun, upstream: Emulator, tmp_path: Path
) -> None:
    project = _project(tmp_path, USER_TEST.replace("PROMPT", "Hello there"))
    upstream_env = {"KLUSTER_BASE_URL": upstream.base_url, "KLUSTER_API_KEY": UPSTREAM_KEY}
    recorded = run_pytest(project, "--kluster-record", env=upstream_env)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    cassette_file = project / "cassettes" / "greeting.json"
    cassette = json.loads(cassette_file.read_text())
    assert cassette["recorded_against"] == "emulator" and len(cassette["interactions"]) == 1
    assert UPSTREAM_KEY not in cassette_file.read_text()
    seen = len(upstream.controls.requests)
    upstream.stop()

    replayed = run_pytest(project)  # no key, no base URL, upstream gone
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert len(upstream.controls.requests) == seen == 1


def test_recording_without_key_or_base_url_says_what_to_set(run_pytest: PytestRun, tmp_path: Path) -> None:
    run = run_pytest(_project(tmp_path, USER_TEST.replace("PROMPT", "Hi")), "--kluster-record")
    assert run.returncode != 0
    assert "--kluster-record needs KLUSTER_API_KEY" in run.stdout


def test_missing_cassette_says_how_to_record_it(run_pytest: PytestRun, tmp_path: Path) -> None:
    run = run_pytest(_project(tmp_path, USER_TEST.replace("PROMPT", "Hi")))
    assert run.returncode != 0
    assert "kluster cassette 'greeting' is missing" in run.stdout and "pytest --kluster-record" in run.stdout


def test_unmatched_request_fails_the_test_with_a_diff_even_when_swallowed(
    run_pytest: PytestRun, upstream: Emulator, tmp_path: Path
) -> None:
    project = _project(tmp_path, USER_TEST.replace("PROMPT", "Hello there"))
    env = {"KLUSTER_BASE_URL": upstream.base_url, "KLUSTER_API_KEY": UPSTREAM_KEY}
    assert run_pytest(project, "--kluster-record", env=env).returncode == 0
    (project / "test_user.py").write_text(SWALLOWING_TEST)
    run = run_pytest(project)
    assert run.returncode == 1, run.stdout
    assert "1 failed" in run.stdout
    assert "no recorded exchange matches POST /v1/chat/completions" in run.stdout
    assert '-        "content": "Hello there",' in run.stdout
    assert '+        "content": "Changed",' in run.stdout


def test_mismatch_message_is_a_readable_diff_against_the_closest_recording(
    kluster_emulator: Emulator, upstream: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "diff.json"
    kluster_emulator.record_cassette(path, upstream_url=upstream.base_url, upstream_key=upstream.api_key)
    client = openai.OpenAI(base_url=kluster_emulator.base_url, api_key=kluster_emulator.api_key, max_retries=0)
    client.models.list()
    client.chat.completions.create(model=LLAMA, messages=[{"role": "user", "content": "What is 2+2?"}], temperature=0)
    kluster_emulator.eject_cassette()
    player = kluster_emulator.play_cassette(path)
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(
            model=LLAMA, messages=[{"role": "user", "content": "What is 2+3?"}], temperature=0.5
        )
    assert raised.value.status_code == 412
    assert len(player.mismatches) == 1 and isinstance(player.mismatches[0], CassetteMismatch)
    message = str(player.mismatches[0])
    assert message == raised.value.body["message"]  # type: ignore[index]
    lines = message.splitlines()
    assert lines[0] == (f"kluster cassette 'diff' ({path}): no recorded exchange matches POST /v1/chat/completions.")
    assert lines[1].startswith("Closest recorded request: interaction #2, POST /v1/chat/completions")
    assert lines[2:4] == ["--- recorded (expected)", "+++ sent (actual)"]
    assert '-        "content": "What is 2+2?",' in lines and '+        "content": "What is 2+3?",' in lines
    assert '-    "temperature": 0' in lines and '+    "temperature": 0.5' in lines
    assert lines[-1].endswith("re-record the cassette with `pytest --kluster-record`.")
    # a second identical request (recorded once) is also refused, saying why
    client.chat.completions.create(model=LLAMA, messages=[{"role": "user", "content": "What is 2+2?"}], temperature=0)
    with pytest.raises(openai.APIStatusError, match="recorded 1 time"):
        client.chat.completions.create(
            model=LLAMA, messages=[{"role": "user", "content": "What is 2+2?"}], temperature=0
        )
    kluster_emulator.eject_cassette()


def test_the_readme_example_records_and_replays(run_pytest: PytestRun, upstream: Emulator, tmp_path: Path) -> None:
    pytest.importorskip("langchain_openai")
    project = _project(tmp_path, README_TEST.read_text(), "test_agent.py")
    env = {"KLUSTER_BASE_URL": upstream.base_url, "KLUSTER_API_KEY": UPSTREAM_KEY}
    recorded = run_pytest(project, "--kluster-record", env=env)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    upstream.stop()
    replayed = run_pytest(project)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert (project / "cassettes" / "weather_agent.json").is_file()
