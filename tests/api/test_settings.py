from __future__ import annotations

import logging

import pytest

from kluster_agents.integrations import KlusterConfigError, KlusterSettings, Tier
from kluster_agents.integrations._api.settings import DEFAULT_BASE_URL, resolve_settings

KEY = "kl-test-secret-0123456789"


def test_defaults_without_environment() -> None:
    s = KlusterSettings()
    assert s.base_url == DEFAULT_BASE_URL
    assert s.tier is Tier.core
    assert s.api_key is None and not s.has_api_key
    assert s.tool_messages == "native"


def test_reads_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text(f"KLUSTER_API_KEY={KEY}\nKLUSTER_TIER=Scale\n")
    monkeypatch.setenv("KLUSTER_BASE_URL", "http://127.0.0.1:9999/v1/")
    s = KlusterSettings()
    assert s.require_api_key() == KEY
    assert s.tier is Tier.scale
    assert s.base_url == "http://127.0.0.1:9999/v1"  # trailing slash normalised


def test_key_never_in_repr_or_dump() -> None:
    s = KlusterSettings(api_key=KEY)
    assert KEY not in repr(s) and KEY not in str(s)
    assert KEY not in s.model_dump_json()


def test_missing_key_is_only_an_error_when_needed() -> None:
    s = KlusterSettings()  # constructing is fine
    with pytest.raises(KlusterConfigError, match=r"platform\.kluster\.ai/apikeys"):
        s.require_api_key()


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"tier": "gold"}, "unknown tier 'gold'; use one of: trial, core, scale, enterprise"),
        ({"base_url": "api.kluster.ai/v1"}, "must be an http(s) URL"),
        ({"base_url": "ftp://x"}, "must be an http(s) URL"),
        ({"timeout": -1}, "timeout"),
        ({"tool_messages": "magic"}, "tool_messages"),
    ],
)
def test_bad_settings_raise_actionable_config_error(overrides: dict, needle: str) -> None:
    with pytest.raises(KlusterConfigError) as info:
        KlusterSettings.load(**overrides)
    assert needle in str(info.value)


def test_resolve_settings_applies_overrides_without_losing_the_key() -> None:
    base = KlusterSettings(api_key=KEY)
    s = resolve_settings(base, tier="trial")
    assert s.tier is Tier.trial and s.require_api_key() == KEY
    assert resolve_settings(base) is base


def test_key_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    s = KlusterSettings(api_key=KEY)
    logging.getLogger("test").warning("settings: %r %s", s, s)
    assert KEY not in caplog.text
