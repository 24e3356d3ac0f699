"""`@pytest.mark.kluster_cassette` alone is enough: it brings the emulator and points KLUSTER_* at
it, whatever the shell exported; its failures are short (summary first, a diff printed once); and
`--kluster-inspector` shows the inspector URL while output is captured. Each run is a real pytest
process in a `pytester` project."""

from __future__ import annotations

import json

import pytest

from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import UPSTREAM_KEY

# A user's test that reads the environment, as code built on `kluster_backend()` or any SDK does.
MARKER_ONLY = """
import os
import openai
import pytest

@pytest.mark.kluster_cassette("greeting")
def test_greeting():
    client = openai.OpenAI(
        base_url=os.environ["KLUSTER_BASE_URL"], api_key=os.environ["KLUSTER_API_KEY"], max_retries=0
    )
    reply = client.chat.completions.create(
        model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", messages=[{"role": "user", "content": "PROMPT"}]
    )
    assert reply.choices[0].message.content
"""
ARGS = ("-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:langsmith_plugin", "-p", "no:xdist", "-W", "ignore")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("KLUSTER_API_KEY", "KLUSTER_BASE_URL", "KLUSTER_TIER"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_user=MARKER_ONLY.replace("PROMPT", "Hello there"))
    return pytester


def test_marker_alone_records_from_the_shells_server_and_replays_without_it(
    project: pytest.Pytester, upstream: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLUSTER_BASE_URL", upstream.base_url)  # the `emulate` banner's exports
    monkeypatch.setenv("KLUSTER_API_KEY", UPSTREAM_KEY)
    recorded = project.runpytest_subprocess("--kluster-record", *ARGS)
    recorded.assert_outcomes(passed=1)
    cassette = json.loads((project.path / "cassettes" / "greeting.json").read_text())
    assert [i["request"]["path"] for i in cassette["interactions"]] == ["/v1/chat/completions"]
    upstream_seen = len(upstream.controls.requests)
    assert upstream_seen == 1

    replayed = project.runpytest_subprocess(*ARGS)  # the shell still names the upstream: it is not used
    replayed.assert_outcomes(passed=1)
    assert len(upstream.controls.requests) == upstream_seen


def _without_summary(run: pytest.RunResult) -> str:
    """The output above pytest's short test summary (which repeats each message, in full when CI is set)."""
    return run.stdout.str().split("short test summary info")[0]


def test_marker_alone_with_nothing_set_fails_only_on_the_missing_cassette(project: pytest.Pytester) -> None:
    run = project.runpytest_subprocess(*ARGS)
    run.assert_outcomes(errors=1)
    text = run.stdout.str()
    assert "API key" not in text and "api_key" not in text
    summary = [line for line in run.stdout.lines if line.startswith("ERROR test_user.py::test_greeting")]
    assert summary and "kluster cassette 'greeting'" in summary[0]
    body = _without_summary(run)  # pytest's short summary repeats the message (in full when CI is set)
    assert body.count("kluster cassette 'greeting' is missing (") == 1, text  # once, without a traceback
    assert "raise CassetteError" not in text and "During handling" not in text


def test_a_mismatch_diff_is_printed_once(project: pytest.Pytester, upstream: Emulator) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KLUSTER_BASE_URL", upstream.base_url)
        env.setenv("KLUSTER_API_KEY", UPSTREAM_KEY)
        project.runpytest_subprocess("--kluster-record", *ARGS).assert_outcomes(passed=1)
    project.makepyfile(test_user=MARKER_ONLY.replace("PROMPT", "Changed"))
    run = project.runpytest_subprocess(*ARGS)
    run.assert_outcomes(failed=1)
    text = run.stdout.str()
    body = _without_summary(run)  # pytest's short summary repeats the message (in full when CI is set)
    assert body.count('+        "content": "Changed",') == 1, text
    assert body.count("no recorded exchange matches POST /v1/chat/completions") == 1, text
    assert "The above exception was the direct cause" not in text


def test_inspector_url_is_shown_without_dash_s(project: pytest.Pytester) -> None:
    project.makepyfile(test_user="def test_uses_it(kluster_emulator):\n    assert kluster_emulator.base_url\n")
    run = project.runpytest_subprocess("--kluster-inspector", *ARGS)
    run.assert_outcomes(passed=1)
    run.stdout.re_match_lines([r"^kluster emulator inspector: http://127\.0\.0\.1:\d+/inspector/\?token=\S+$"])
