"""`kluster-agents emulate`: run the emulator in the foreground with a banner that says it is
EMULATED and how to point clients at it. A plain function; the typer app wires the options."""

from __future__ import annotations

from pathlib import Path

from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._api.settings import Tier
from kluster_agents.integrations.emulator.fidelity import check_mode
from kluster_agents.integrations.emulator.server import DEFAULT_PORT, Emulator, serve


def banner(emulator: Emulator) -> str:
    """What `emulate` prints before serving (the key is the emulator's own, not a kluster.ai key)."""
    return "\n".join(
        [
            "kluster.ai EMULATOR - EMULATED responses for offline development, NOT the real kluster.ai service",
            f"  base URL : {emulator.base_url}",
            f"  API key  : {emulator.api_key}",
            f"  mode     : {emulator.controls.mode}   tier: {emulator.controls.tier.value}",
            f"  state    : {emulator.runtime.store.path}",
            f"  inspector: {emulator.inspector_url}",
            "Point clients at it with:",
            f"  export KLUSTER_BASE_URL={emulator.base_url} KLUSTER_API_KEY={emulator.api_key}",
            "Press Ctrl-C to stop.",
        ]
    )


def emulate(
    port: int = DEFAULT_PORT,
    tier: str = "core",
    mode: str = "strict",
    lenient: bool = False,
    state: Path | None = None,
    api_key: str | None = None,
) -> None:
    """Serve the emulator on 127.0.0.1:`port` until Ctrl-C (`lenient=True` is `mode="lenient"`).

    Bad options and a busy port raise `KlusterConfigError` naming the fix (the CLI prints one line)."""
    from rich.console import Console

    check_options(port=port, tier=tier, mode="lenient" if lenient else mode)
    console = Console()
    try:
        serve(
            port=port,
            tier=tier,
            mode="lenient" if lenient else mode,
            api_key=api_key,
            state_path=state,
            on_ready=lambda emulator: console.print(
                banner(emulator), style="bold yellow", highlight=False, soft_wrap=True
            ),
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
