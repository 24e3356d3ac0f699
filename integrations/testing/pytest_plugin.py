"""pytest plugin (`pytest11` entry point `kluster_agents`): fixtures that give every test a clean
kluster emulator and the recorded exchanges.

- `kluster_emulator`: one server per session, reset before each test (state, scripts, faults,
  clock, request log); mode/tier/job timing per test or module with
  `@pytest.mark.kluster_emulator(mode=..., tier=..., timing="instant"|"fast"|"realistic")` (closest marker
  wins per option; otherwise `KLUSTER_EMULATOR_TIMING`, else fast: observed-like seconds, each job capped).
- `kluster_emulator_env`: the same, with KLUSTER_BASE_URL/KLUSTER_API_KEY set for the test only.
- `kluster_fixture`: the recorded request/response exchanges, by name.
- `pytest --kluster-inspector` prints the emulator's inspector page URL (with its token).
- `@pytest.mark.kluster_cassette("name", ignore=[...])` on a test, alone or with `kluster_emulator`:
  the marker brings `kluster_emulator_env` (the emulator, and KLUSTER_* pointing at it for the test),
  so code that reads the environment never reaches another server; the emulator replays
  `cassettes/<name>.json` beside the test file; with
  `pytest --kluster-record` it forwards every request to the real API instead (KLUSTER_API_KEY,
  and KLUSTER_BASE_URL for any other server, read when pytest starts) and writes that cassette,
  secrets redacted. A request the cassette does not hold fails the test with a diff.

Imported at every pytest start, so FastAPI/uvicorn are imported only when a fixture is used.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kluster_agents.integrations.emulator._server.server import Emulator

MARKER = "kluster_emulator"
CASSETTE_MARKER = "kluster_cassette"
RECORD_OPTION = "--kluster-record"
CASSETTE_DIR = "cassettes"
_UPSTREAM = pytest.StashKey[tuple[str | None, str | None]]()
_SESSION = pytest.StashKey[Any]()


INSPECTOR_OPTION = "--kluster-inspector"
ENV_FIXTURE = "kluster_emulator_env"


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--kluster-record` and `--kluster-inspector`."""
    group = parser.getgroup("kluster", "kluster-agents emulator: cassettes and inspector")
    group.addoption(
        RECORD_OPTION,
        action="store_true",
        default=False,
        help="record the kluster cassettes of the selected tests through the emulator in pass-through "
        "mode, against KLUSTER_BASE_URL (default: the real API) with KLUSTER_API_KEY",
    )
    group.addoption(
        INSPECTOR_OPTION,
        action="store_true",
        default=False,
        help="print the kluster emulator's inspector URL (with its token) when the emulator starts",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A cassette marker brings its emulator and environment: without them a test would talk to
    whatever server the shell names (an `emulate` banner's exports) and record nothing."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        marked = item.get_closest_marker(CASSETTE_MARKER) is not None
        if marked and isinstance(names, list) and ENV_FIXTURE not in names:
            names.append(ENV_FIXTURE)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the plugin's markers."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(mode='strict'|'docs-strict'|'lenient', tier='trial'|'core'|'scale'|'enterprise', "
        "timing='instant'|'fast'|'realistic', limits=True): fidelity mode, tier, job timing of the kluster emulator "
        "for this test, and whether it answers 429 past the tier's RPM and concurrency as the service does",
    )
    config.addinivalue_line(
        "markers",
        f"{CASSETTE_MARKER}(name, ignore=()): replay cassettes/<name>.json through `kluster_emulator` "
        f"(record it with {RECORD_OPTION}); `ignore` lists dotted request-body paths that may differ",
    )
    # read now: test suites often clear KLUSTER_* variables for each test
    config.stash[_UPSTREAM] = (os.environ.get("KLUSTER_API_KEY"), os.environ.get("KLUSTER_BASE_URL"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """A request the cassette did not hold fails the test, even when the code under test caught the error."""
    try:
        result = yield
    except BaseException:
        _fail_on_mismatch(item)
        raise
    _fail_on_mismatch(item)
    return result


def _fail_on_mismatch(item: pytest.Item) -> None:
    session = item.stash.get(_SESSION, None)
    mismatches = getattr(session, "mismatches", None)
    if mismatches:
        message = "\n\n".join(str(m) for m in mismatches)
        # the client error that carried the same diff is not chained: the diff is printed once
        raise pytest.fail.Exception(message, pytrace=False) from None


def _load_cassette(emulator: Emulator, request: pytest.FixtureRequest, marker: pytest.Mark) -> Any:
    if not marker.args or not isinstance(marker.args[0], str) or not marker.args[0].strip():
        raise pytest.UsageError(f'@pytest.mark.{CASSETTE_MARKER} needs a cassette name: {CASSETTE_MARKER}("my_agent")')
    name = marker.args[0]
    path = Path(request.node.path).parent / CASSETTE_DIR / f"{name}.json"
    if not request.config.getoption(RECORD_OPTION):
        from kluster_agents.integrations.emulator._cassettes.cassette import CassetteError

        try:
            return emulator.play_cassette(path, ignore=marker.kwargs.get("ignore", ()))
        except CassetteError as exc:
            problem = str(exc)
        pytest.fail(problem, pytrace=False)  # outside `except`: the message is printed once, no traceback
    key, base_url = request.config.stash.get(_UPSTREAM, (None, None))
    if not key and not base_url:
        pytest.fail(
            f"{RECORD_OPTION} needs KLUSTER_API_KEY (to record against api.kluster.ai) or KLUSTER_BASE_URL "
            "(any kluster-compatible server, e.g. `kluster-agents emulate`) in the environment.",
            pytrace=False,
        )
    from kluster_agents.integrations._api.settings import DEFAULT_BASE_URL

    return emulator.record_cassette(path, upstream_url=base_url or DEFAULT_BASE_URL, upstream_key=key, name=name)


@pytest.fixture(scope="session")
def kluster_emulator_session(pytestconfig: pytest.Config) -> Iterator[Emulator]:
    """The session's emulator server (prefer `kluster_emulator`, which resets it for each test)."""
    from kluster_agents.integrations.emulator._server.server import Emulator

    with Emulator() as emulator:
        if pytestconfig.getoption(INSPECTOR_OPTION):
            _show(pytestconfig, f"kluster emulator inspector: {emulator.inspector_url}")
        yield emulator


def _show(config: pytest.Config, line: str) -> None:
    """Write `line` on the terminal now, past output capturing (the URL is wanted while tests run)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)


@pytest.fixture
def kluster_emulator(kluster_emulator_session: Emulator, request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A clean emulator for this test: `.base_url`, `.api_key`, `.settings`, `.controls`."""
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):  # farthest first: the closest wins
        options.update(marker.kwargs)
    kluster_emulator_session.reset(mode=options.get("mode"), tier=options.get("tier"), limits=options.get("limits"))
    if options.get("timing") is not None:
        kluster_emulator_session.controls.set_timing(options["timing"])
    cassette = request.node.get_closest_marker(CASSETTE_MARKER)
    if cassette is not None:
        request.node.stash[_SESSION] = _load_cassette(kluster_emulator_session, request, cassette)
    try:
        yield kluster_emulator_session
    finally:
        kluster_emulator_session.eject_cassette()  # writes a recording
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
    from kluster_agents.integrations.emulator._cassettes.exchanges import load_exchanges

    return load_exchanges()
