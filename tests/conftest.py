"""Suite-wide isolation: no network, no user key, no telemetry, no remote cost maps."""

from __future__ import annotations

import copy
import multiprocessing
import os
import socket
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer, require_redis_server

pytest_plugins = [
    "pytester",  # the pytest plugin's own tests run pytest in a scratch project
    "tests.verify_double",  # the scripted Verify service (`settings`, `make_client`): Verify, MCP, CLI tests
]

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
    from kluster_agents.integrations._api import compat, limiter_registry
    from kluster_agents.integrations._api.stream_usage import forget_refusals

    forget_refusals()  # every test starts with no remembered stream_options refusal (no order dependence)
    compat._warned.clear()  # ... and warns about each dropped parameter again (the warning is once per process)
    limiter_registry.reset()  # ... and with the catalog's rate limits, not those an earlier test's 429s taught
    litellm = sys.modules.get("litellm")  # ... and LiteLLM's global drop_params as an earlier test left it: reset
    if litellm is not None:
        monkeypatch.setattr(litellm, "drop_params", False)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker more than cores, since many tests wait on subprocesses and emulated job
    time (on 2 cores, 3 workers: ~148 s against ~163 s). `-m benchmark` runs in one process (no
    workers): timings taken beside another worker mislead, and `-s` output is only shown without them."""
    markexpr = config.option.markexpr or ""
    if "benchmark" in markexpr and "not benchmark" not in markexpr:
        return 0
    return (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) + 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_live = pytest.mark.skip(reason="live test: set KLUSTER_API_KEY to run against api.kluster.ai")
    for item in items:
        if "live" in item.keywords and not LIVE_KEY:
            item.add_marker(skip_live)


@pytest.fixture(scope="session")
def compat_outcome() -> Callable[[Callable[[dict[str, Any]], Any], dict[str, Any]], Any]:
    """What a compat pass makes of a body: ("ok", result) or ("error", type, message), warnings off;
    for comparing a cached pass (RequestShapes) with the full one."""
    from kluster_agents.integrations._api.errors import KlusterError

    def outcome(fn: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return ("ok", fn(copy.deepcopy(body)))
            except KlusterError as exc:
                return ("error", type(exc), str(exc))

    return outcome


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real Redis server for the session (tests that kill it use `fresh_redis_server`)."""
    require_redis_server()
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own, free to be killed and restarted."""
    require_redis_server()
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """Returns a function giving a 127.0.0.1 port nobody listens on (bound by the OS, then released)."""

    def port() -> int:
        with closing(socket.socket()) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    return port


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A base URL on 127.0.0.1 whose socket accepts connections and never answers (timeout tests)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # the kernel completes handshakes; nobody ever reads or writes
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        sock.close()


# --- scripts run as `python script.py` would, without paying the framework imports each time -------

# Runs in the child: the job's environment, working directory, argv and output files, then the script
# as `__main__` (multiprocessing turns an exception into exit code 1 with the traceback on stderr).
_CHILD = """
import os, runpy, sys
for fd, name in ((1, "stdout"), (2, "stderr")):
    os.dup2(os.open(JOB[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
os.environ.clear(); os.environ.update(JOB["env"])
os.chdir(JOB["cwd"])
sys.stdin = open(os.devnull)
sys.argv = [JOB["target"], *JOB["args"]]
try:
    if JOB["module"]:
        runpy.run_module(JOB["target"], run_name="__main__", alter_sys=True)
    else:
        sys.path.insert(0, os.path.dirname(JOB["target"]))
        runpy.run_path(JOB["target"], run_name="__main__")
finally:
    sys.stdout.flush(); sys.stderr.flush()
"""
# What the recipes and the cassette plugin's pytest runs import; the fork server imports them once. Not
# CrewAI: it fixes its storage paths from the environment at import, which its recipes set first.
_PRELOAD = [
    "openai",
    "pytest",
    "kluster_agents.integrations._cli.app",
    "kluster_agents.integrations.emulator._server.server",
    "kluster_agents.integrations.testing.pytest_plugin",
    "langchain_openai",
    "kluster_agents.adapters.langchain",
    "litellm",
    "kluster_agents.adapters.litellm",
    "pydantic_ai",
    "kluster_agents.adapters.pydantic_ai",
]


@dataclass(frozen=True)
class ScriptRun:
    returncode: int | None  # None: still running at the timeout (then killed)
    stdout: str
    stderr: str


class ScriptRunner:
    """Runs Python scripts (or `-m` modules) side by side, each in a fresh process with its own
    environment, working directory and output, as `python script.py` would. The processes fork from
    one multiprocessing fork server that imported the frameworks once, so the suite does not pay
    LiteLLM's seconds-long import per recipe."""

    def __init__(self, scratch: Path) -> None:
        self._scratch = scratch
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)

    def run(
        self,
        scripts: dict[str, str | Path],
        *,
        env: dict[str, str],
        cwd: Path,
        args: Sequence[str] = (),
        module: bool = False,
        timeout: float = 240,
    ) -> dict[str, ScriptRun]:
        """Start every script at once; wait for all (up to `timeout` in total); return their runs by name."""
        started = {}
        for name, target in scripts.items():
            out = self._scratch / f"{uuid.uuid4().hex}-{name}"
            job = {
                "target": str(target),
                "args": list(args),
                "module": module,
                "env": env,
                "cwd": str(cwd),
                "stdout": f"{out}.out",
                "stderr": f"{out}.err",
            }
            process = self._context.Process(target=exec, args=(_CHILD, {"JOB": job}), name=name)
            process.start()
            started[name] = (process, job)
        deadline = time.monotonic() + timeout
        runs = {}
        for name, (process, job) in started.items():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
                code = None
            else:
                code = process.exitcode
            runs[name] = ScriptRun(
                code, Path(job["stdout"]).read_text(encoding="utf-8"), Path(job["stderr"]).read_text(encoding="utf-8")
            )
        return runs


@pytest.fixture(scope="session")
def script_runner(tmp_path_factory: pytest.TempPathFactory) -> ScriptRunner:
    return ScriptRunner(tmp_path_factory.mktemp("script-runs"))
