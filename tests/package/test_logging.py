"""The `kluster_agents` logger hierarchy: silent by default, and when turned on it says what compat
dropped, translated or refused, rate-limit waits, batch status transitions and Verify verdicts."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytest

from kluster_agents.integrations import KlusterSettings, prepare_chat_request, run_batch
from kluster_agents.integrations._api.errors import KlusterRateLimitError, KlusterUnsupportedError
from kluster_agents.integrations._api.limits import RateLimiter
from kluster_agents.integrations._verify.client import VerifyClient

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
USER = [{"role": "user", "content": "hi"}]


def test_the_hierarchy_is_silent_by_default() -> None:
    root = logging.getLogger("kluster_agents")
    assert any(isinstance(h, logging.NullHandler) for h in root.handlers)
    assert root.level == logging.NOTSET  # levels and real handlers are the application's choice


def test_compat_drops_translations_and_refusals_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="kluster_agents"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare_chat_request({"model": LLAMA, "messages": USER, "store": True, "max_tokens": 5})
        with pytest.raises(KlusterUnsupportedError):
            prepare_chat_request({"model": LLAMA, "messages": USER, "n": 3})
    text = caplog.text
    assert "dropped `store`" in text and "translated `max_tokens` to `max_completion_tokens`" in text
    assert "refused `n`" in text
    assert all(r.name.startswith("kluster_agents.") for r in caplog.records)


def test_framework_added_stream_options_is_a_debug_log_not_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="kluster_agents"), warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        request = prepare_chat_request(
            {"model": LLAMA, "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
        )
    assert "stream_options" not in request and "dropped `stream_options`" in caplog.text


def test_rate_limit_waits_are_logged(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kluster_agents.integrations._api.limits._sleep", lambda _s: None)
    answers = iter([KlusterRateLimitError("slow down", retry_after=2.5, status_code=429), "ok"])

    def call() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with caplog.at_level(logging.INFO, logger="kluster_agents"):
        assert RateLimiter(rpm=None, concurrency=None).call(call) == "ok"
    assert "rate limited (429): this caller waits 2.5 s" in caplog.text


def test_batch_transitions_and_verify_verdicts_are_logged(
    kluster_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings: KlusterSettings = kluster_emulator.settings
    with caplog.at_level(logging.INFO, logger="kluster_agents"):
        run_batch([{"model": LLAMA, "messages": USER}], settings=settings, poll_interval=0.01, journal=False)
        VerifyClient(settings).verify("Where is the Eiffel Tower?", "In Paris.", "The Eiffel Tower is in Paris.")
    transitions = [r.getMessage() for r in caplog.records if r.name == "kluster_agents.integrations._jobs.polling"]
    assert transitions and transitions[-1].split(": ", 1)[1].split(" (")[0].endswith("-> completed")
    assert "Verify verdict via /reliability: is_hallucination=False" in caplog.text
