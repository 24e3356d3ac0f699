"""What every `kluster-agents` command shares: consoles, the error convention, the client.

Errors: one line on stderr; exit 2 for usage and configuration errors, 1 for a failed operation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import openai
import typer
from rich.console import Console
from rich.markup import escape

from kluster_agents.integrations.api.client import make_client, translate_errors
from kluster_agents.integrations.api.errors import (
    KlusterConfigError,
    KlusterError,
    KlusterInvalidRequestError,
    KlusterUnsupportedError,
)
from kluster_agents.integrations.api.settings import KlusterSettings

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

PollInterval = Annotated[float | None, typer.Option(help="Seconds between polls (default: 1 s growing to 30 s).")]
WaitFlag = Annotated[bool, typer.Option("--wait", help="Follow the job until it finishes (progress bar).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

USAGE_EXIT = 2
FAILED_EXIT = 1


def fail(message: str, code: int = FAILED_EXIT) -> NoReturn:
    """Print one error line on stderr and exit with `code`."""
    err_console.print(f"[red]Error:[/red] {escape(message)}")
    raise typer.Exit(code)


def cli_client() -> openai.OpenAI:
    return make_client(load_settings())


def load_settings(**overrides: object) -> KlusterSettings:
    with cli_errors():
        return KlusterSettings.load(**overrides)


@contextmanager
def cli_errors() -> Iterator[None]:
    """KlusterErrors become one line on stderr: exit 2 for bad input or configuration, 1 otherwise."""
    try:
        with translate_errors():
            yield
    except (KlusterConfigError, KlusterInvalidRequestError, KlusterUnsupportedError) as exc:
        fail(exc.message, USAGE_EXIT)
    except KlusterError as exc:
        fail(exc.message, FAILED_EXIT)


def print_json(data: Any) -> None:
    """Machine-readable output for `--json` (plain stdout, no markup)."""
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@contextmanager
def reattach_on_ctrl_c(*commands: str) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        console.print("\n[yellow]Stopped waiting; the job is still running on kluster.ai.[/yellow] Re-attach with:")
        for command in commands:
            console.print(f"  {command}")
        raise typer.Exit(130) from None


def when(timestamp: Any) -> str:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return "-"
