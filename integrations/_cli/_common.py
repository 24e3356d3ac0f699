"""What every `kluster-agents` command shares: consoles, tables, the error convention, the client.

Errors: one line on stderr; exit 2 for usage and configuration errors, 1 for a failed operation.
Imports stay light (no openai, httpx or pydantic-settings here) so `--help` and `--version` are
fast; each command imports the API layer when it runs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

if TYPE_CHECKING:
    import openai

    from kluster_agents.integrations._api.settings import KlusterSettings

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

PollInterval = Annotated[
    float | None,
    typer.Option(
        help="Seconds between polls (default: adaptive, 0.1 s first, growing to 30 s; KLUSTER_POLL_INTERVAL)."
    ),
]
WaitFlag = Annotated[bool, typer.Option("--wait", help="Follow the job until it finishes (progress bar).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

USAGE_EXIT = 2
FAILED_EXIT = 1


def for_cli(message: str) -> str:
    """`message` with Python-only advice (an argument, a `with` block) rewritten for a CLI user:
    CLI flags and environment variables. The library's messages stay the one source of wording."""
    from kluster_agents.integrations._api.settings import PASS_API_KEY, RUN_OFFLINE_IN_PYTHON
    from kluster_agents.integrations._jobs.batch.input import STRICT_MODELS_OFF

    for python, cli in (
        (f" ({PASS_API_KEY})", ""),
        (f" {PASS_API_KEY}", ""),
        (RUN_OFFLINE_IN_PYTHON, ""),
        (STRICT_MODELS_OFF, "add --no-strict-models"),
    ):
        message = message.replace(python, cli)
    return message


def fail(message: str, code: int = FAILED_EXIT) -> NoReturn:
    """Print one error line on stderr and exit with `code`."""
    err_console.print(f"[red]Error:[/red] {escape(message)}")
    raise typer.Exit(code)


def note(message: str) -> None:
    """A progress line on stderr (what is being tried), so stdout stays the command's output."""
    err_console.print(f"[dim]{escape(message)}[/dim]")


def table(*columns: str | Column, title: str | None = None) -> Table:
    """A table that fits the terminal: wraps instead of cutting, and is plain (no box, no colour)
    when stdout is not a terminal, so piped output stays greppable."""
    from rich import box

    tty = console.is_terminal
    return Table(
        *columns,
        title=title if tty else None,
        box=box.SIMPLE_HEAD if tty else None,
        show_edge=False,
        pad_edge=False,
        header_style="bold" if tty else "",
    )


def cli_client(**overrides: Any) -> openai.OpenAI:
    """The API client for a command; says so on stderr when the base URL is a kluster emulator."""
    from kluster_agents.integrations._api.client import make_client

    settings = load_settings(**overrides)
    with cli_errors():
        client = make_client(settings)
    announce_emulator(settings)
    return client


def announce_emulator(settings: KlusterSettings) -> bool:
    """When the configured base URL answers as a kluster emulator, say so (stderr) and return True."""
    from kluster_agents.integrations._backend import emulator_at

    if settings.has_api_key and emulator_at(settings.base_url, timeout=min(settings.connect_timeout, 2.0)):
        note(f"{settings.base_url} is a kluster emulator: responses are EMULATED, not from kluster.ai.")
        return True
    return False


def load_settings(**overrides: object) -> KlusterSettings:
    from kluster_agents.integrations._api.settings import KlusterSettings

    with cli_errors():
        return KlusterSettings.load(**overrides)


class InputLines:
    """The 1-based line numbers of an input file by request index, so an error names a request as
    an editor shows it ("line 3 of in.jsonl") rather than by its 0-based index ("Request 1")."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.numbers: list[int] = []

    def rename(self, message: str) -> str:
        def line(match: re.Match[str]) -> str:
            index = int(match.group(2))
            if index >= len(self.numbers):
                return match.group(0)
            word = "Line" if match.group(1) == "R" else "line"
            return f"{word} {self.numbers[index]} of {self.source}"

        return re.sub(r"\b([Rr])equest (\d+)\b", line, message)


@contextmanager
def cli_errors(lines: InputLines | None = None, *, calls_api: bool = True) -> Iterator[None]:
    """KlusterErrors become one line on stderr: exit 2 for bad input or configuration, 1 otherwise;
    with `lines`, a request is named by its line in the input file. `calls_api=False` is for commands that
    never use the openai client (`emulate`): mapping its errors would import it, a second of start-up."""
    from kluster_agents.integrations._api.errors import (
        KlusterConfigError,
        KlusterError,
        KlusterInvalidRequestError,
        KlusterUnsupportedError,
    )

    sdk_errors: AbstractContextManager[None] = nullcontext()
    if calls_api:
        from kluster_agents.integrations._api.client import translate_errors

        sdk_errors = translate_errors()
    try:
        with sdk_errors:
            yield
    except (KlusterConfigError, KlusterInvalidRequestError, KlusterUnsupportedError) as exc:
        fail(for_cli(lines.rename(exc.message) if lines else exc.message), USAGE_EXIT)
    except KlusterError as exc:
        fail(for_cli(lines.rename(exc.message) if lines else exc.message), FAILED_EXIT)


def print_json(data: Any) -> None:
    """Machine-readable output for `--json` (plain stdout, no markup)."""
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def api_object(obj: Any) -> Any:
    """An openai SDK object (or a list of them) as plain JSON data, for `--json`."""
    if isinstance(obj, list):
        return [api_object(item) for item in obj]
    errors = getattr(obj, "errors", None)
    if getattr(obj, "object", None) == "batch" and isinstance(errors, list):
        # kluster sends a batch's `errors` as a plain list; the SDK's Batch declares OpenAI's list object
        from openai.types.batch import Errors

        obj = obj.model_copy(update={"errors": Errors.model_validate({"object": "list", "data": errors})})
    dump = getattr(obj, "model_dump", None)
    return dump(mode="json") if callable(dump) else obj


@contextmanager
def atomic_output(path: Path, what: str, advice: str) -> Iterator[IO[str]]:
    """Write `what` to a temporary file beside `path`, renamed to it only once complete: an interrupted or
    failed write never leaves a partial file under its name. A full or read-only disk is a
    `KlusterDiskError` naming the path and saying what to do (`advice`)."""
    import tempfile

    from kluster_agents.integrations._jobs.jsonl import disk_errors

    partial: Path | None = None
    with disk_errors(path, what, advice):
        try:
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False
            ) as handle:
                partial = Path(handle.name)
                yield handle
            os.replace(partial, path)
        except BaseException:
            if partial is not None:
                partial.unlink(missing_ok=True)
            raise


@contextmanager
def reattach_on_ctrl_c(*commands: str) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        console.print("\n[yellow]Stopped waiting; the job is still running on kluster.ai.[/yellow] Re-attach with:")
        for command in commands:
            console.print(f"  {command}", markup=False)
        raise typer.Exit(130) from None


def when(timestamp: Any) -> str:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return "-"
