"""`kluster-agents emulate`: run the emulator in the foreground with a banner that says it is
EMULATED and how to point clients at it. A plain function; the typer app wires the options."""

from __future__ import annotations

import sys
from pathlib import Path

from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._api.tiers import Tier
from kluster_agents.integrations.emulator._control.controls import JobTiming, resolve_timing
from kluster_agents.integrations.emulator._inspector.request_log import RequestRecord
from kluster_agents.integrations.emulator._routes.fidelity import check_mode
from kluster_agents.integrations.emulator._server.server import DEFAULT_PORT, Emulator, serve


def banner(emulator: Emulator) -> str:
    """What `emulate` prints before serving (the key is the emulator's own, not a kluster.ai key)."""
    return "\n".join(
        [
            "kluster.ai EMULATOR - EMULATED responses for offline development, NOT the real kluster.ai service",
            f"  base URL : {emulator.base_url}",
            f"  API key  : {emulator.api_key}",
            f"  mode     : {emulator.controls.mode}   tier: {emulator.controls.tier.value} ({_limits_note(emulator)})",
            f"  timing   : {_timing(emulator)}",
            f"  state    : {emulator.runtime.store.path}",
            f"  inspector: {emulator.inspector_url}",
            "Point clients at it with:",
            f"  export KLUSTER_BASE_URL={emulator.base_url} KLUSTER_API_KEY={emulator.api_key}",
            "Press Ctrl-C to stop.",
        ]
    )


def _limits_note(emulator: Emulator) -> str:
    if emulator.controls.rate_limiter.enabled:
        return "its RPM and concurrency enforced with 429s, as the service does"
    return "limits not enforced; --tier enforces them"


def _timing(emulator: Emulator) -> str:
    timing = emulator.controls.timing
    if timing == JobTiming.instant():
        return "instant"
    if timing.max_job_seconds is not None:
        return f"fast (each job at most {timing.max_job_seconds:g} s)"
    return "realistic" if timing == JobTiming() else "custom"


def request_line(record: RequestRecord, ms: float) -> str:
    """One request as `emulate` logs it: method, path, status, milliseconds."""
    return f"{record.method} {record.path} {record.status} {ms:.0f} ms"


def _log_request(record: RequestRecord, ms: float) -> None:
    sys.stdout.write(request_line(record, ms) + "\n")
    sys.stdout.flush()


def emulate(
    port: int = DEFAULT_PORT,
    tier: str | None = None,
    mode: str = "strict",
    lenient: bool = False,
    state: Path | None = None,
    api_key: str | None = None,
    limits: bool | None = None,
    timing: str | None = None,
    quiet: bool = False,
) -> None:
    """Serve the emulator on 127.0.0.1:`port` until Ctrl-C (`lenient=True` is `mode="lenient"`), logging
    one line per request unless `quiet`; `timing` None reads `KLUSTER_EMULATOR_TIMING` (default fast).

    An explicit `tier` enforces its RPM and concurrency (429 past them) unless `limits` is False; without
    one the emulator acts as the core tier and throttles nothing, as before (`limits=True` enforces core's).
    Bad options and a busy port raise `KlusterConfigError` naming the fix (the CLI prints one line)."""
    from rich.console import Console

    check_options(port=port, tier=tier or "core", mode="lenient" if lenient else mode)
    resolve_timing(timing)  # an unknown --timing or KLUSTER_EMULATOR_TIMING fails before anything starts
    console = Console()

    def ready(emulator: Emulator) -> None:
        console.print(banner(emulator), style="bold yellow", highlight=False, soft_wrap=True)
        if not quiet:
            emulator.app.on_response = _log_request

    try:
        serve(
            port=port,
            tier=(tier or "core").strip().lower(),
            enforce_limits=limits if limits is not None else tier is not None,
            mode="lenient" if lenient else mode,
            api_key=api_key,
            state_path=state,
            on_ready=ready,
            timing=timing,
        )
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise KlusterConfigError(
            f"Cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}): the port is busy or not allowed; "
            "pick another with --port (or --port 0 for any free port)."
        ) from None
    console.print("kluster emulator stopped.")


def check_options(*, port: int, tier: str, mode: str) -> None:
    """Refuse an impossible port, an unknown tier or mode before anything starts."""
    if not 0 <= port <= 65535:
        raise KlusterConfigError(f"--port {port} is not a TCP port: use 1-65535 (or 0 for any free port).")
    if tier.strip().lower() not in Tier.__members__:
        raise KlusterConfigError(f"--tier {tier!r} is unknown: use one of {', '.join(Tier.__members__)}.")
    try:
        check_mode(mode)
    except ValueError as exc:
        raise KlusterConfigError(f"--mode: {exc}.") from None
