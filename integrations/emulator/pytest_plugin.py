"""pytest plugin (`pytest11` entry point `kluster_agents`): fixtures that give every test a clean
kluster emulator and the recorded exchanges.

- `kluster_emulator`: one server per session, reset before each test (state, scripts, faults,
  clock, request log); mode/tier/job timing per test or module with
  `@pytest.mark.kluster_emulator(mode=..., tier=..., timing="observed"|"instant")` (closest marker wins
  per option; jobs take observed-like seconds unless `timing="instant"`).
- `kluster_emulator_env`: the same, with KLUSTER_BASE_URL/KLUSTER_API_KEY set for the test only.
- `kluster_fixture`: the recorded request/response exchanges, by name.
- `pytest --kluster-inspector` prints the emulator's inspector page URL (with its token).

Imported at every pytest start, so FastAPI/uvicorn are imported only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kluster_agents.integrations.emulator.server import Emulator

MARKER = "kluster_emulator"


INSPECTOR_OPTION = "--kluster-inspector"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        INSPECTOR_OPTION,
        action="store_true",
        default=False,
        help="print the kluster emulator's inspector URL (with its token) when the emulator starts",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(mode='strict'|'docs-strict'|'lenient', tier='trial'|'core'|'scale'|'enterprise', "
        "timing='observed'|'instant'): fidelity mode, tier and job timing of the kluster emulator for this test",
    )


@pytest.fixture(scope="session")
def kluster_emulator_session(pytestconfig: pytest.Config) -> Iterator[Emulator]:
    """The session's emulator server (prefer `kluster_emulator`, which resets it for each test)."""
    from kluster_agents.integrations.emulator.server import Emulator

    with Emulator() as emulator:
        if pytestconfig.getoption(INSPECTOR_OPTION):
            reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
            line = f"kluster emulator inspector: {emulator.inspector_url}"
            reporter.write_line(line) if reporter is not None else print(line)
        yield emulator


@pytest.fixture
def kluster_emulator(kluster_emulator_session: Emulator, request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A clean emulator for this test: `.base_url`, `.api_key`, `.settings`, `.controls`."""
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):  # farthest first: the closest wins
        options.update(marker.kwargs)
    kluster_emulator_session.reset(mode=options.get("mode"), tier=options.get("tier"))
    if options.get("timing") is not None:
        kluster_emulator_session.controls.set_timing(options["timing"])
    yield kluster_emulator_session
    kluster_emulator_session.reset()


@pytest.fixture
def kluster_emulator_env(kluster_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """`kluster_emulator`, with KLUSTER_BASE_URL, KLUSTER_API_KEY and KLUSTER_TIER pointing at it
    for the duration of the test (restored afterwards)."""
    monkeypatch.setenv("KLUSTER_BASE_URL", kluster_emulator.base_url)
    monkeypatch.setenv("KLUSTER_API_KEY", kluster_emulator.api_key)
    monkeypatch.setenv("KLUSTER_TIER", kluster_emulator.controls.tier.value)
    return kluster_emulator


@pytest.fixture(scope="session")
def kluster_fixture() -> dict[str, dict[str, Any]]:
    """The recorded exchanges (`source`, `kind`, `request`, `response`) by name."""
    from kluster_agents.integrations.emulator.exchanges import load_exchanges

    return load_exchanges()
