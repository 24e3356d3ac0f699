"""An explicit tier makes the emulator enforce it: 429 past the tier's RPM and concurrency, as the
service does (the docs' rate-limit page), from `kluster-agents emulate --tier`, `Emulator(enforce_limits=True)`
or the marker's `limits=True`; without one nothing is throttled."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations._cli.app import app
from kluster_agents.integrations.emulator._server import emulate_command as cli
from kluster_agents.integrations.emulator._server.server import Emulator

MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"


def _chat(emulator: Emulator, client: httpx.Client, i: int) -> httpx.Response:
    return client.post(
        f"{emulator.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        json={"model": MODEL, "messages": [{"role": "user", "content": f"q{i}"}]},
    )


def test_an_enforced_tier_answers_429_past_its_rpm() -> None:
    rpm = get_model(MODEL).limits_for("trial").rpm  # type: ignore[union-attr]
    with Emulator(tier="trial", enforce_limits=True) as emulator, httpx.Client(timeout=30) as client:
        emulator.controls.clock.freeze()  # one emulated minute, however long the requests take
        statuses = [_chat(emulator, client, i).status_code for i in range(rpm + 2)]
        assert statuses == [200] * rpm + [429, 429]
        refused = _chat(emulator, client, 0)
        assert refused.headers["retry-after"] and "per minute" in refused.json()["error"]["message"]
        emulator.controls.advance(60)  # the window has moved on
        assert _chat(emulator, client, 0).status_code == 200
        emulator.reset()  # the enforcement is the emulator's default, kept across resets
        emulator.controls.clock.freeze()
        assert [_chat(emulator, client, i).status_code for i in range(rpm + 1)][-1] == 429


def test_without_an_explicit_tier_nothing_is_throttled() -> None:
    with Emulator(tier="trial") as emulator, httpx.Client(timeout=30) as client:
        emulator.controls.clock.freeze()
        assert {_chat(emulator, client, i).status_code for i in range(40)} == {200}


@pytest.mark.kluster_emulator(tier="trial", limits=True)
def test_the_marker_enforces_the_tier(kluster_emulator: Emulator) -> None:
    kluster_emulator.controls.clock.freeze()
    with httpx.Client(timeout=30) as client:
        assert _chat(kluster_emulator, client, 0).status_code == 200
        assert kluster_emulator.controls.rate_limiter.enabled


@pytest.mark.parametrize(
    ("args", "env", "enforced", "tier"),
    [
        ([], {}, False, "core"),
        (["--tier", "trial"], {}, True, "trial"),
        (["--tier", "Trial", "--no-limits"], {}, False, "trial"),
        ([], {"KLUSTER_EMULATOR_TIER": "scale"}, True, "scale"),
        (["--limits"], {}, True, "core"),
    ],
)
def test_emulate_enforces_an_explicit_tier(
    monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], enforced: bool, tier: str
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(cli, "serve", lambda **kwargs: seen.update(kwargs))
    result = CliRunner().invoke(app, ["emulate", *args], env=env)
    assert result.exit_code == 0, result.output
    assert (seen["enforce_limits"], seen["tier"]) == (enforced, tier)
