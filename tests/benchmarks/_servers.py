"""The emulator in its own process (so its CPU, memory and pauses are not the client's), for benchmarks."""

from __future__ import annotations

import multiprocessing
import runpy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, NamedTuple

import httpx

from kluster_agents.integrations.emulator._server.server import Emulator, serve

API_KEY = "bench-key"


class RunningEmulator(NamedTuple):
    process: BaseProcess
    port: int
    base_url: str


@contextmanager
def emulator_process(port: int, startup_timeout: float = 60) -> Iterator[RunningEmulator]:
    """Start `serve` on `port` in a spawned process; yield it once it answers; stop it."""
    server = multiprocessing.get_context("spawn").Process(
        target=serve, kwargs={"port": port, "api_key": API_KEY}, daemon=True
    )
    server.start()
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                httpx.get(f"{base_url}/models", headers={"Authorization": f"Bearer {API_KEY}"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("emulator process did not start") from None
                time.sleep(0.1)
        yield RunningEmulator(server, port, base_url)
    finally:
        server.terminate()
        server.join(10)


class RemoteEmulator:
    """An emulator in its own process, driven through a pipe: the knobs a benchmark turns on
    `EmulatorControls` (`control("clock.set_speed", 10.0)`), and what it reads back. A benchmark whose
    figure depends on when the server sees a request runs the server here, so the client's CPU work and
    garbage collections cannot delay the server's clock, as they never delay the real service."""

    def __init__(self, conn: Connection, base_url: str, api_key: str, tier: str) -> None:
        self._conn, self.base_url, self.api_key, self.tier = conn, base_url, api_key, tier

    def _ask(self, op: str, *args: Any, **kwargs: Any) -> Any:
        self._conn.send((op, args, kwargs))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"emulator process: {op} failed: {value}")
        return value

    def control(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Call `EmulatorControls.<name>` (a dotted path, e.g. `clock.set_speed`) in the server's process."""
        self._ask("control", name, *args, **kwargs)

    def statuses(self, path_suffix: str, model: str | None = None) -> list[int | None]:
        """The HTTP statuses of the logged requests whose path ends with `path_suffix` (and whose body
        names `model`, if given), in order."""
        return list(self._ask("statuses", path_suffix, model))

    def record_rate_limiter(self) -> None:
        """From now on, note the emulated times at which its rate limiter lets a request in and at which
        an admitted request's answer is finished (forgets what it noted before)."""
        self._ask("record_rate_limiter")

    def rate_limiter_log(self, model: str | None = None) -> tuple[list[float], list[float]]:
        """(admission times, finish times) noted since `record_rate_limiter` (of `model`'s requests, if
        given), each sorted."""
        admitted, finished = self._ask("rate_limiter_log")

        def times(log: list[tuple[str, float]]) -> list[float]:
            return sorted(t for named, t in log if model is None or named == model)

        return times(admitted), times(finished)


def _control(emulator: Emulator, name: str, *args: Any, **kwargs: Any) -> None:
    target: Any = emulator.controls
    for part in name.split("."):
        target = getattr(target, part)
    target(*args, **kwargs)


def _statuses(emulator: Emulator, path_suffix: str, model: str | None) -> list[int | None]:
    def named(body: Any) -> bool:
        return model is None or (isinstance(body, dict) and body.get("model") == model)

    return [r.status for r in emulator.controls.requests if r.path.endswith(path_suffix) and named(r.body)]


# (admitted, finished) as (model, emulated time), noted in the server's process
_LOG: tuple[list[tuple[str, float]], list[tuple[str, float]]] = ([], [])


def _record_rate_limiter(emulator: Emulator) -> None:
    limiter, clock = emulator.controls.rate_limiter, emulator.controls.clock
    admitted, finished = _LOG
    admitted.clear()
    finished.clear()
    acquire, release = type(limiter).acquire, type(limiter).release

    def recording_acquire(model: str, tier_limits: Any, now: float) -> tuple[str, int] | None:
        refused = acquire(limiter, model, tier_limits, now)
        if refused is None:
            admitted.append((model, now))
        return refused

    def recording_release(model: str) -> None:
        finished.append((model, clock.now()))
        release(limiter, model)

    limiter.acquire = recording_acquire  # type: ignore[method-assign]
    limiter.release = recording_release  # type: ignore[method-assign]


_OPS: dict[str, Callable[..., Any]] = {
    "control": _control,
    "statuses": _statuses,
    "record_rate_limiter": _record_rate_limiter,
    "rate_limiter_log": lambda _emulator: _LOG,
}


def _serve_controlled(conn: Connection) -> None:
    with Emulator(api_key=API_KEY) as emulator:
        conn.send((emulator.base_url, emulator.api_key, emulator.controls.tier.value))
        while True:
            try:
                op, args, kwargs = conn.recv()
            except EOFError:
                return
            try:
                conn.send((True, _OPS[op](emulator, *args, **kwargs)))
            except Exception as exc:
                conn.send((False, repr(exc)))


@contextmanager
def controlled_emulator(startup_timeout: float = 60) -> Iterator[RemoteEmulator]:
    """A `RemoteEmulator` in a spawned process, stopped on exit."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    # the child runs this file by path: pytest's importlib mode leaves `tests` off the child's sys.path
    server = ctx.Process(
        target=runpy.run_path,
        args=(__file__,),
        kwargs={"init_globals": {"CONNECTION": theirs}, "run_name": _CHILD_NAME},
        daemon=True,
    )
    server.start()
    try:
        if not ours.poll(startup_timeout):
            raise RuntimeError("emulator process did not start")
        yield RemoteEmulator(ours, *ours.recv())
    finally:
        ours.close()
        server.join(10)
        if server.is_alive():
            server.terminate()
            server.join(10)


_CHILD_NAME = "__kluster_controlled_emulator__"
if __name__ == _CHILD_NAME:
    _serve_controlled(globals()["CONNECTION"])
