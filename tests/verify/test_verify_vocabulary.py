"""One Verify vocabulary: `context=` everywhere (old names warn and still work), one outcome dict."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from kluster_agents.integrations._verify.policy import VerifyOutcome
from kluster_agents.integrations._verify.result import VerifyResult

FLAGGED = VerifyResult(status="hallucination", is_hallucination=True, explanation="The tower is 330 m, not 500 m.")


def test_outcome_metadata_round_trips() -> None:
    outcome = VerifyOutcome(action="retry", status="hallucination", result=FLAGGED, feedback="fix it", attempt=1)
    data = outcome.to_metadata()
    assert data["status"] == "hallucination" and data["action"] == "retry" and data["retries"] == 1
    assert data["is_hallucination"] is True and data["explanation"] == FLAGGED.explanation
    assert VerifyOutcome.from_metadata(data) == outcome
    import json

    json.dumps(data)  # JSON-ready: frameworks serialise their metadata


def test_skipped_outcome_metadata_has_no_result() -> None:
    data = VerifyOutcome(action="pass", status="skipped").to_metadata()
    assert data["result"] is None and data["is_hallucination"] is None and data["explanation"] == ""


def test_crewai_context_vocabulary() -> None:
    pytest.importorskip("crewai")
    from kluster_agents.adapters.crewai import KlusterVerifyGuardrail

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KlusterVerifyGuardrail(context="conversation")
    with pytest.raises(TypeError):
        KlusterVerifyGuardrail(context_from="tools")  # type: ignore[call-arg]  # the old name is gone


def test_langchain_context_sources() -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.runnables import RunnableLambda

    from kluster_agents.adapters.langchain import with_verification
    from kluster_agents.adapters.langchain._verify import _Verified

    echo = RunnableLambda(lambda x: "answer")
    with pytest.raises(TypeError):
        with_verification(echo, context_key="docs")  # type: ignore[call-arg]  # the old name is gone
    seen: list[Any] = []
    found = _Verified(echo, None, context=lambda i: seen.append(i) or "ctx", prompt_key=None, output_key=None)  # type: ignore[arg-type]
    assert found.prompt_and_context("q?") == ("q?", "ctx") and seen == ["q?"]
    keyed = _Verified(echo, None, context="docs", prompt_key=None, output_key=None)  # type: ignore[arg-type]
    assert keyed.prompt_and_context({"question": "q?", "docs": "the text"}) == ("q?", "the text")


def test_litellm_guardrail_context_sources() -> None:
    pytest.importorskip("litellm")
    from kluster_agents.adapters.litellm import KlusterVerifyGuardrail
    from kluster_agents.integrations._api.errors import KlusterConfigError

    messages = [{"role": "system", "content": "ref"}, {"role": "user", "content": "q"}]
    assert KlusterVerifyGuardrail()._context(messages) == "ref"
    assert KlusterVerifyGuardrail(context=None)._context(messages) is None
    assert KlusterVerifyGuardrail(context=lambda m: "mine")._context(messages) == "mine"
    with pytest.raises(KlusterConfigError):
        KlusterVerifyGuardrail(context="everything")  # type: ignore[arg-type]
