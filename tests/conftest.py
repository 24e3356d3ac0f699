"""Suite-wide isolation: no network, no user key, no telemetry, no remote cost maps."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Frameworks phone home at import time unless told not to; set before any test imports them.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "false")
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")

_KLUSTER_ENV = [name for name in os.environ if name.startswith("KLUSTER_")]
LIVE_KEY = os.environ.get("KLUSTER_API_KEY")


@pytest.fixture(autouse=True)
def _isolate_kluster_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Tests never see the developer's KLUSTER_* variables or .env (live tests excepted)."""
    if request.node.get_closest_marker("live"):
        return
    for name in list(os.environ):
        if name.startswith("KLUSTER_") and name != "KLUSTER_EMULATOR_KEY":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KLUSTER_JOURNAL_PATH", str(tmp_path / "journal.sqlite3"))  # never the user's batch journal
    monkeypatch.chdir(tmp_path)  # no stray .env from the working directory
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-kluster")  # must never be sent to kluster
    from kluster_agents.integrations.api.stream_usage import forget_refusals

    forget_refusals()  # every test starts with no remembered stream_options refusal (no order dependence)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_live = pytest.mark.skip(reason="live test: set KLUSTER_API_KEY to run against api.kluster.ai")
    for item in items:
        if "live" in item.keywords and not LIVE_KEY:
            item.add_marker(skip_live)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A base URL on 127.0.0.1 whose socket accepts connections and never answers (timeout tests)."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # the kernel completes handshakes; nobody ever reads or writes
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        sock.close()
