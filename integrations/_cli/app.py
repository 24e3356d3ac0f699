"""`kluster-agents` command line: doctor, models, chat, demo, emulate, and the commands each area owns.

Each area keeps its commands in its own module; adapters add theirs through the
`kluster_agents.cli` entry-point group (scanned only for `--help` or a name that is not a core command,
loaded only when run), so the core imports no framework.
Start-up stays well under the cost of `import openai`: this module and the command modules import
only typer and rich at the top; the API layer (openai, httpx, pydantic-settings) loads when a
command runs.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.main
from rich.markup import escape
from rich.table import Column, Table
from typer.core import TyperGroup

from kluster_agents.integrations._cli._common import (
    USAGE_EXIT,
    JsonFlag,
    announce_emulator,
    cli_errors,
    console,
    fail,
    for_cli,
    load_settings,
    note,
    print_json,
    table,
)
from kluster_agents.integrations._version import __version__

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

DEFAULT_CHAT_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"  # = catalog.DEFAULT_MODEL, without importing it
DOCTOR_CONNECT_TIMEOUT = 3.0
DOCTOR_READ_TIMEOUT = 4.0  # + the connect timeout: an unreachable endpoint is reported within ~7 s
CHAT_CONNECT_TIMEOUT = 5.0

ADAPTER_COMMANDS_GROUP = "kluster_agents.cli"


@functools.cache
def _adapter_entries() -> dict[str, EntryPoint]:
    """Adapter commands by name; scanning installed distributions is slow, so only `--help`, completion and
    a name that is not a core command pay for it."""
    from importlib.metadata import entry_points

    return {entry.name: entry for entry in entry_points(group=ADAPTER_COMMANDS_GROUP)}


def _adapter_command(entry: EntryPoint) -> Any:
    """An adapter's command by name; its module (and framework) loads only when it runs."""
    extra = entry.extras[0] if entry.extras else None
    wrapper = typer.Typer()

    @wrapper.command(
        entry.name,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
        help=f"Adapter command{f' (needs the {extra} extra)' if extra else ''}; --help shows its options.",
    )
    def run(ctx: typer.Context) -> None:
        try:
            function = entry.load()
        except ImportError as exc:  # the extra is missing: the adapter's message names it
            hint = f' Install it with: pip install "kluster-agents[{extra}]"' if extra else ""
            fail(f"{exc}{hint}", USAGE_EXIT)
        command = typer.Typer(add_completion=False)
        command.command()(function)
        command(args=ctx.args, prog_name=f"kluster-agents {entry.name}")

    return typer.main.get_command(wrapper)


class _RootGroup(TyperGroup):
    """The root command group: lists the adapter commands after the core ones and builds one only when it is
    looked up. `ctx` and the command are typed `Any`: typer ships its own copy of click from 0.20 on."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *_adapter_entries()]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and (entry := _adapter_entries().get(cmd_name)) is not None:
            command = _adapter_command(entry)
        return command


app = typer.Typer(
    name="kluster-agents",
    cls=_RootGroup,
    help="kluster.ai for agent frameworks: check your setup, list models, chat, run batches, verify answers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"kluster-agents {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = None,
) -> None:
    """kluster.ai for LangChain, LiteLLM, CrewAI and PydanticAI."""


@app.command()
def doctor(
    check_key: Annotated[bool, typer.Option("--check/--no-check", help="Call /v1/models to validate the key.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Show settings, whether the key works, and which framework extras are installed."""
    from kluster_agents.integrations._api.errors import KlusterConfigError, KlusterError
    from kluster_agents.integrations._api.extras import installed_extras
    from kluster_agents.integrations._api.settings import KlusterSettings

    try:  # the doctor's own timeouts would hide invalid KLUSTER_TIMEOUT-like values: check them as set
        KlusterSettings.load()
        problem = None
    except KlusterConfigError as exc:
        problem = for_cli(exc.message)
    settings = load_settings(connect_timeout=DOCTOR_CONNECT_TIMEOUT, timeout=DOCTOR_READ_TIMEOUT, max_retries=0)
    report: dict[str, Any] = {
        "version": __version__,
        "python": sys.version.split()[0],
        "base_url": settings.base_url,
        "tier": settings.tier.value,
        "api_key_set": settings.has_api_key,
        "tool_messages": settings.tool_messages,
        "settings_problem": problem,
        "reachability": None,
        "emulator": None,
        "rate_limit_store": None,
        "extras": dict(installed_extras()),
    }
    status = USAGE_EXIT if problem is not None else 0
    if settings.rate_limit_store is not None:
        from kluster_agents.integrations._api._limit_store import check_store

        ok, text = check_store(settings)
        report["rate_limit_store"] = {"ok": ok, "detail": text}
        status = status if ok else 1
    if settings.has_api_key and check_key:
        from kluster_agents.integrations._api.catalog import refresh_models
        from kluster_agents.integrations._api.client import make_client

        budget = DOCTOR_CONNECT_TIMEOUT + DOCTOR_READ_TIMEOUT
        note(f"Checking {settings.base_url}/models (gives up after {budget:g} s, no retries)...")
        try:
            count = len(refresh_models(make_client(settings)))
            report["reachability"] = {"ok": True, "models": count}
            report["emulator"] = announce_emulator(settings)
        except KlusterError as exc:
            report["reachability"] = {"ok": False, "error": for_cli(exc.message)}
            status = 1
    if as_json:
        print_json(report)
    else:
        console.print(_doctor_table(report))
    raise typer.Exit(status)


def _doctor_table(report: dict[str, Any]) -> Table:
    grid = table(Column(no_wrap=True), Column(overflow="fold"), title="kluster-agents doctor")
    grid.show_header = False
    grid.add_row("version", report["version"])
    grid.add_row("python", report["python"])
    grid.add_row("base URL", escape(report["base_url"]))
    grid.add_row("tier", report["tier"])
    grid.add_row("API key", "set (hidden)" if report["api_key_set"] else "[yellow]not set[/yellow] - KLUSTER_API_KEY")
    grid.add_row("tool messages", report["tool_messages"])
    store = report["rate_limit_store"]
    if store is not None:
        state = "[green]ok[/green]" if store["ok"] else "[red]failed[/red]"
        grid.add_row("rate-limit store", f"{state}: {escape(store['detail'])}")
    if report["settings_problem"] is not None:
        grid.add_row("settings", f"[red]invalid[/red]: {escape(report['settings_problem'])}")
    reach = report["reachability"]
    if reach is not None and reach["ok"]:
        grid.add_row("reachability", f"[green]ok[/green] ({reach['models']} models visible to this key)")
        if report["emulator"]:
            grid.add_row("endpoint", "[yellow]kluster emulator[/yellow] (EMULATED responses, not kluster.ai)")
    elif reach is not None:
        grid.add_row("reachability", f"[red]failed[/red]: {escape(reach['error'])}")
    elif not report["api_key_set"]:
        grid.add_row("reachability", "skipped (no key; `kluster-agents demo` runs on the built-in emulator)")
    for extra, found in report["extras"].items():
        hint = escape(f'pip install "kluster-agents[{extra}]"')
        grid.add_row(escape(f"extra [{extra}]"), found or f"[dim]not installed - {hint}[/dim]")
    return grid


@app.command("models")
def models_command(
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Also list what GET /v1/models returns for your key.")
    ] = False,
    tier: Annotated[str | None, typer.Option(help="Show limits for this tier (default: KLUSTER_TIER).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The model catalog: names and aliases, capabilities and per-tier limits."""
    from kluster_agents.integrations._api.catalog import list_models, refresh_models
    from kluster_agents.integrations._api.client import make_client

    settings = load_settings(tier=tier)
    infos = list_models()
    if refresh:
        with cli_errors():
            infos = refresh_models(make_client(settings))
    if as_json:
        print_json([info.model_dump(mode="json") for info in infos])
        return
    grid = table(
        Column("model / aliases / can", overflow="fold", ratio=1),
        *(Column(name, justify="right", no_wrap=True) for name in ("context", "out", "batch", "RPM")),
        title=f"kluster.ai models ({settings.tier.value} tier limits)",
    )
    for info in infos:
        limits = info.limits_for(settings.tier)
        numbers = [limits.context, limits.max_output, limits.max_batch_requests, limits.rpm] if limits else [-1] * 4
        flags = {"tools": info.tools, "image": info.vision, "reason": info.reasoning, "ft": info.fine_tuning}
        can = " ".join(flag for flag, on in flags.items() if on)
        details = ", ".join(info.aliases) + (f" | {can}" if can else "")
        grid.add_row(
            escape(info.id) + (f"\n  [dim]{escape(details)}[/dim]" if details else ""), *map(_compact, numbers)
        )
    console.print(grid)
    console.print(
        f"Any name or alias works as model=. Limits: {settings.tier.value} tier (--tier); "
        "can: tools, image input, reasoning, fine-tuning.",
        markup=False,
    )


def _compact(number: int | None) -> str:
    """163000 -> '163k', None -> 'unlimited', -1 -> '?' (limits unknown for this model)."""
    if number is None:
        return "unlimited"
    if number < 0:
        return "?"
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if number >= size:
            return f"{number / size:g}{unit}"
    return str(number)


@app.command()
def chat(
    prompt: Annotated[str, typer.Argument(help="What to ask.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name or alias.")] = DEFAULT_CHAT_MODEL,
    system: Annotated[str | None, typer.Option(help="Optional system prompt.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="max_completion_tokens.")] = None,
) -> None:
    """Stream one chat completion to the terminal."""
    from kluster_agents.integrations._api.client import make_client

    _check_model_name(model)
    settings = load_settings()
    settings = settings.model_copy(update={"connect_timeout": min(settings.connect_timeout, CHAT_CONNECT_TIMEOUT)})
    announce_emulator(settings)
    if settings.has_api_key:
        note(
            f"Asking {model} at {settings.base_url} (connect timeout {settings.connect_timeout:g} s, "
            f"read timeout {settings.timeout:g} s, {settings.max_retries} retries)..."
        )
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    with cli_errors():
        stream = make_client(settings).chat.completions.create(
            model=model, messages=messages, max_completion_tokens=max_tokens, stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                console.print(chunk.choices[0].delta.content, end="", soft_wrap=True, highlight=False, markup=False)
    console.print()


def _check_model_name(model: str) -> None:
    """A name the catalog does not know but nearly matches is a typo: say so before any network.
    A name far from every catalog name may be a fine-tuned or dedicated model: the service decides."""
    import difflib

    from kluster_agents.integrations._api.catalog import chat_models, get_model

    if get_model(model).kind != "unknown":
        return
    names = [name for info in chat_models() for name in (info.id, *info.aliases)]
    close = difflib.get_close_matches(model, names, n=1, cutoff=0.8)
    if close:
        fail(f"Unknown model {model!r}; did you mean {close[0]!r}? `kluster-agents models` lists them.", USAGE_EXIT)


@app.command()
def demo(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model for the chat and batch steps.")
    ] = DEFAULT_CHAT_MODEL,
) -> None:
    """Tour: streamed chat, a Batch API job, a Verify check (built-in emulator without a key)."""
    from kluster_agents.integrations._cli.demo import run_demo

    with cli_errors():
        run_demo(model=model, console=console)


def _mount_subcommands() -> None:
    """Areas that own their commands: the job layer and Verify/MCP."""
    from kluster_agents.integrations._cli.batch import batch_app
    from kluster_agents.integrations._cli.emulate import emulate
    from kluster_agents.integrations._cli.finetune import finetune_app
    from kluster_agents.integrations._cli.recipes import recipes_app
    from kluster_agents.integrations._cli.verify import mcp_app, verify_command

    app.command("emulate")(emulate)
    app.add_typer(batch_app, name="batch")
    app.add_typer(finetune_app, name="finetune")
    app.add_typer(mcp_app, name="mcp")
    app.command("verify")(verify_command)
    app.add_typer(recipes_app, name="recipes")


_mount_subcommands()
