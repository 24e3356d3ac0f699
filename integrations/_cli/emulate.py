"""`kluster-agents emulate`: serve the built-in emulator. A module of its own so that the entry point can
start it without building the whole command tree (start-up is what a newcomer waits for first)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kluster_agents.integrations._cli._common import cli_errors


def emulate(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    tier: Annotated[
        str | None,
        typer.Option(
            envvar="KLUSTER_EMULATOR_TIER",
            help="Act as this tier and enforce its RPM and concurrency with 429s, as the service does "
            "(default: core, nothing enforced).",
        ),
    ] = None,
    limits: Annotated[
        bool | None,
        typer.Option("--limits/--no-limits", help="Enforce the tier's limits (default: only when --tier is given)."),
    ] = None,
    mode: Annotated[
        str, typer.Option(help="strict (docs' unsupported params -> 400), docs-strict, or lenient.")
    ] = "strict",
    lenient: Annotated[bool, typer.Option("--lenient", help="Shorthand for --mode lenient.")] = False,
    state: Annotated[Path | None, typer.Option(help="SQLite state file (default: a temp dir).")] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Key clients must send (default: KLUSTER_EMULATOR_KEY or 'emulator').")
    ] = None,
    timing: Annotated[
        str | None,
        typer.Option(
            help="How long batch, fine-tuning and adaptive jobs take: instant (tests), fast (each job at most "
            "20 s, every status and event in order) or realistic (the observed pace). "
            "Default: KLUSTER_EMULATOR_TIMING, else fast."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Do not log one line per request.")] = False,
) -> None:
    """Serve the built-in kluster emulator (EMULATED responses) until Ctrl-C."""
    from kluster_agents.integrations.emulator._server.emulate_command import emulate as serve_emulator

    with cli_errors(calls_api=False):
        serve_emulator(
            port=port,
            tier=tier,
            mode=mode,
            lenient=lenient,
            state=state,
            api_key=api_key,
            limits=limits,
            timing=timing,
            quiet=quiet,
        )


def run_emulate(args: list[str]) -> None:
    """Run `emulate` with its arguments as its own one-command CLI (same options, help and errors)."""
    command = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    command.command()(emulate)
    command(args=args, prog_name="kluster-agents emulate")
