"""`Emulator`: runs the emulator app with uvicorn in a background thread on a free loopback port
(only ever 127.0.0.1), for tests and recipes; `serve()` runs it in the foreground for the CLI."""

from __future__ import annotations

from kluster_agents.integrations._api.extras import require

for _served_by in ("fastapi", "uvicorn"):  # the emulator is a web app: the 'testing' extra brings its server
    require(_served_by, "testing")

import gc
import os
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kluster_agents.integrations._api.tiers import Tier
from kluster_agents.integrations.emulator._control.controls import EmulatorControls, JobTiming
from kluster_agents.integrations.emulator._server.slow_clients import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    header_deadline_protocol,
)
from kluster_agents.integrations.emulator._state.clock import DEFAULT_SPEED

if TYPE_CHECKING:
    from kluster_agents.integrations._api.settings import KlusterSettings
    from kluster_agents.integrations.emulator._cassettes.cassette import CassettePlayer, CassetteRecorder

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_KEY = "emulator"
KEY_ENV = "KLUSTER_EMULATOR_KEY"
_START_TIMEOUT = 15.0


def resolve_key(api_key: str | None) -> str:
    """The emulator's API key: the argument, else `KLUSTER_EMULATOR_KEY`, else "emulator"."""
    return api_key or os.environ.get(KEY_ENV) or DEFAULT_KEY


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class Emulator:
    """A running kluster emulator. Use as a context manager (or `start()`/`stop()`).

    `header_timeout`: seconds a connection may take to send a request's headers before it is closed;
    `body_timeout`: seconds more for the request's body.
    `enforce_limits`: answer 429 past the tier's RPM and concurrency, as the service does (what an explicit
    `kluster-agents emulate --tier` asks for); off by default so that tests are never throttled.
    `timing`: how long jobs take — "instant", "fast" or "realistic" (`JobTiming.for_mode`) or a `JobTiming`;
    by default `KLUSTER_EMULATOR_TIMING`, else "fast"."""

    def __init__(
        self,
        port: int = 0,
        tier: Tier | str = Tier.core,
        mode: str = "strict",
        api_key: str | None = None,
        state_path: str | Path | None = None,
        *,
        clock_speed: float = DEFAULT_SPEED,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        enforce_limits: bool = False,
        timing: JobTiming | str | None = None,
    ) -> None:
        from kluster_agents.integrations.emulator._server.app import create_app

        self._key = resolve_key(api_key)
        self.controls = EmulatorControls(
            mode=mode, tier=tier, clock_speed=clock_speed, enforce_limits=enforce_limits, timing=timing
        )
        self.app, self.runtime = create_app(api_key=self._key, controls=self.controls, state_path=state_path)
        self._requested_port = port
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = self.base_url if self._socket else "stopped"
        return f"Emulator({state}, mode={self.controls.mode!r}, tier={self.controls.tier.value!r}, EMULATED)"

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the emulator is not running; use `with Emulator() as emu:` or call start()")
        return int(self._socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ending in /v1."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def inspector_url(self) -> str:
        """The inspector page, with its access token (like a notebook server's URL); keep it private."""
        return f"http://{HOST}:{self.port}/inspector/?token={self.runtime.inspector_token}"

    @property
    def api_key(self) -> str:
        return self._key

    @property
    def settings(self) -> KlusterSettings:
        """`KlusterSettings` pointing at this emulator with its key and current tier."""
        from kluster_agents.integrations._api.settings import KlusterSettings  # pydantic-settings: not at start-up

        return KlusterSettings.load(api_key=self._key, base_url=self.base_url, tier=self.controls.tier.value)

    def _uvicorn_server(self) -> Any:
        import uvicorn

        from kluster_agents.integrations.emulator._server.listener import BurstAcceptServer

        return BurstAcceptServer(
            uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                loop="auto",
                http=header_deadline_protocol(self._header_timeout, self._body_timeout),
                ws="none",
                timeout_keep_alive=5,  # idle after a response; the header deadline bounds a request's start
                timeout_graceful_shutdown=1,
            )
        )

    def start(self) -> Emulator:
        """Start serving in a daemon thread; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        self._socket = _bind(self._requested_port)
        self._server = self._uvicorn_server()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"kluster-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        started = threading.Event()
        while not started.wait(0.01):
            if self._server.started:
                started.set()
            elif not self._thread.is_alive() or (self._server.should_exit):
                raise RuntimeError("the kluster emulator failed to start (see the log above)")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self.runtime.store.close()
        self._thread = self._server = self._socket = None

    def reset(self, *, mode: str | None = None, tier: Tier | str | None = None, limits: bool | None = None) -> None:
        """Forget every file, batch, job and scripted reply; controls back to defaults (or mode/tier/limits)."""
        self.runtime.reset(mode=mode, tier=Tier(tier).value if tier else None, limits=limits)

    # -- cassettes (see cassette.py / passthrough.py) ---------------------------------------------
    def record_cassette(
        self, path: str | Path, *, upstream_url: str, upstream_key: str | None = None, name: str | None = None
    ) -> CassetteRecorder:
        """Pass-through mode: forward every request to `upstream_url` (with `upstream_key`) and record
        it; `eject_cassette()` writes the cassette to `path`."""
        from kluster_agents.integrations.emulator._cassettes.cassette import CassetteRecorder

        path = Path(path)
        recorder = CassetteRecorder(path, name=name or path.stem, upstream_url=upstream_url, upstream_key=upstream_key)
        self.runtime.cassette = recorder
        return recorder

    def play_cassette(self, path: str | Path, *, ignore: Iterable[str] = ()) -> CassettePlayer:
        """Replay mode: answer every request from the cassette at `path` (no upstream, no emulated model);
        `ignore` lists extra dotted body paths that may differ (e.g. "metadata.run_id")."""
        from kluster_agents.integrations.emulator._cassettes.cassette import CassettePlayer

        player = CassettePlayer(Path(path), ignore=ignore)
        self.runtime.cassette = player
        return player

    def eject_cassette(self) -> CassetteRecorder | CassettePlayer | None:
        """Back to the emulated service; a recording is written to its file. Returns the session."""
        from kluster_agents.integrations.emulator._cassettes.cassette import CassetteRecorder

        session, self.runtime.cassette = self.runtime.cassette, None
        if isinstance(session, CassetteRecorder):
            session.save()
        return session

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def serve_forever(self, on_ready: Callable[[Emulator], None] | None = None) -> None:
        """Serve in the foreground until interrupted (Ctrl-C); `on_ready` runs once the port is bound."""
        self._socket = _bind(self._requested_port)
        if on_ready is not None:
            on_ready(self)
        self._server = self._uvicorn_server()
        # This process now only serves: the modules and objects built so far live as long as it does, so
        # move them out of the collector's generations; each full collection then walks only new objects.
        gc.freeze()
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()
            self.runtime.store.close()
            self._socket = self._server = None


def serve(
    port: int = DEFAULT_PORT,
    tier: Tier | str = Tier.core,
    mode: str = "strict",
    api_key: str | None = None,
    state_path: str | Path | None = None,
    on_ready: Callable[[Emulator], None] | None = None,
    enforce_limits: bool = False,
    timing: str | None = None,
) -> None:
    """Run an emulator in the foreground (what `kluster-agents emulate` does)."""
    emulator = Emulator(
        port=port,
        tier=tier,
        mode=mode,
        api_key=api_key,
        state_path=state_path,
        enforce_limits=enforce_limits,
        timing=timing,
    )
    emulator.serve_forever(on_ready)
