"""CLI commands for Verify and MCP; `cli.py` mounts them:

    app.command("verify")(verify_command)
    app.add_typer(mcp_app, name="mcp")

`kluster-agents verify` exits 0 when the output is reliable, 1 on a hallucination and 2 on any
error (no key, Verify unreachable, bad input), so shells and CI can branch on it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from rich.panel import Panel

    from kluster_agents.integrations._api.errors import KlusterError
    from kluster_agents.integrations._verify.chunking import LongContextMode
    from kluster_agents.integrations._verify.result import VerifyResult

EXIT_RELIABLE, EXIT_HALLUCINATION, EXIT_ERROR = 0, 1, 2

console = Console()
err_console = Console(stderr=True)


def _fail(exc: KlusterError) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
    return typer.Exit(EXIT_ERROR)


def _verdict_panel(result: VerifyResult) -> Panel:
    from rich.panel import Panel

    if result.is_hallucination:
        title, style = "HALLUCINATION — the output is not supported", "red"
    else:
        title, style = "RELIABLE — no hallucination found", "green"
    usage = result.usage or {}
    details = [f"latency {result.latency_s * 1000:.0f} ms", f"source /{result.source}"]
    if usage.get("total_tokens") is not None:
        details.append(f"{usage['total_tokens']} tokens")
    if result.chunks > 1:
        details.append(f"{result.chunks} context chunks")
    body = escape(result.explanation.strip() or "(no explanation)")
    if result.emulated:
        body = "[yellow]EMULATED answer: the built-in kluster emulator, not the real Verify service[/yellow]\n" + body
    if result.search_results:
        body += "\n\nSources:\n" + escape(
            "\n".join(
                f"- {s.get('title', '')} {s.get('link', '')}".strip() if isinstance(s, dict) else f"- {s}"
                for s in result.search_results[:5]
            )
        )
    return Panel(body, title=f"[bold {style}]{title}[/]", subtitle=" · ".join(details), border_style=style)


def verify_command(
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The question or instruction the model answered.")],
    output: Annotated[str, typer.Option("--output", "-o", help="The answer to check; '-' reads it from stdin.")],
    context_file: Annotated[
        Path | None,
        typer.Option(
            "--context-file",
            "-c",
            exists=True,
            dir_okay=False,
            readable=True,
            help="Reference text to check against (RAG); without it Verify checks general knowledge.",
        ),
    ] = None,
    search_results: Annotated[bool, typer.Option("--search-results", help="Ask for the sources used.")] = False,
    long_context: Annotated[
        str, typer.Option("--long-context", help="Context above the model's limit: 'chunk' or 'refuse'.")
    ] = "chunk",
    as_json: Annotated[bool, typer.Option("--json", help="Print the VerifyResult as JSON.")] = False,
) -> None:
    """Check an answer for hallucinations with kluster.ai Verify (exit 0 reliable, 1 hallucination, 2 error)."""
    from kluster_agents.integrations._api.errors import KlusterError
    from kluster_agents.integrations._api.settings import KlusterSettings
    from kluster_agents.integrations._verify.client import VerifyClient

    if output == "-":
        output = sys.stdin.read()
    try:
        context = _read_context(context_file) if context_file else None
        client = VerifyClient(KlusterSettings.load(), long_context=cast("LongContextMode", long_context))
        result = client.verify(prompt, output, context, return_search_results=search_results)
    except KlusterError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        console.print(_verdict_panel(result))
    raise typer.Exit(EXIT_HALLUCINATION if result.is_hallucination else EXIT_RELIABLE)


mcp_app = typer.Typer(
    name="mcp",
    help="kluster.ai MCP: manage your cloud endpoint, or serve the Verify tools locally.",
    no_args_is_help=True,
)


def _show_endpoint(action: str, show_token: bool, as_json: bool = False) -> None:
    from kluster_agents.integrations import mcp
    from kluster_agents.integrations._api.errors import KlusterError
    from kluster_agents.integrations._api.settings import KlusterSettings

    try:
        endpoint = getattr(mcp, action)(KlusterSettings.load())
    except KlusterError as exc:
        raise _fail(exc) from None
    if as_json:
        from kluster_agents.integrations._cli._common import print_json

        token = endpoint.token
        print_json(
            {
                "enabled": endpoint.enabled,
                "url": endpoint.url,
                "token": None if token is None else token.get_secret_value() if show_token else "set (hidden)",
            }
        )
        return
    state = "[green]enabled[/green]" if endpoint.enabled else "[yellow]disabled[/yellow]"
    console.print(f"MCP endpoint: {state}")
    if endpoint.url:
        console.print(f"URL:   {endpoint.url}", highlight=False)
    if endpoint.token is not None:
        token = endpoint.token.get_secret_value() if show_token else "set (hidden; add --show-token to print it)"
        console.print(f"Token: {token}", highlight=False)


ShowToken = Annotated[bool, typer.Option("--show-token", help="Print the MCP token (a secret).")]


@mcp_app.command("status")
def mcp_status(
    show_token: ShowToken = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Whether your cloud MCP endpoint is enabled."""
    _show_endpoint("status", show_token, as_json)


@mcp_app.command("enable")
def mcp_enable(show_token: ShowToken = False) -> None:
    """Enable the cloud MCP endpoint (creates the MCP token)."""
    _show_endpoint("enable", show_token)


@mcp_app.command("disable")
def mcp_disable() -> None:
    """Disable the cloud MCP endpoint (its token stops working)."""
    _show_endpoint("disable", False)


@mcp_app.command("serve")
def mcp_serve(
    transport: Annotated[
        str, typer.Option(help="'stdio' (spawned by an MCP client) or 'http' (streamable HTTP).")
    ] = "stdio",
    host: Annotated[str, typer.Option(help="Interface for --transport http.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for --transport http.")] = 3001,
) -> None:
    """Serve the `verify` and `verify_document` tools locally, backed by the Verify API."""
    from kluster_agents.integrations import mcp
    from kluster_agents.integrations._api.errors import KlusterError
    from kluster_agents.integrations._api.settings import KlusterSettings

    try:
        # serve() checks the transport itself and raises a KlusterConfigError for anything else.
        mcp.serve(cast("Literal['stdio', 'http']", transport), host, port, settings=KlusterSettings.load())
    except KlusterError as exc:
        raise _fail(exc) from None


def _read_context(path: Path) -> str:
    """The context file's text; a non-UTF-8 or empty file is refused (an empty context would silently
    verify against the web instead)."""
    from kluster_agents.integrations._api.errors import KlusterInvalidRequestError

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KlusterInvalidRequestError(
            f"--context-file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); convert it first, e.g. "
            f"`iconv -f latin1 -t utf-8 {path} > context.txt`.",
            parameter="context",
        ) from None
    if not text.strip():
        raise KlusterInvalidRequestError(
            f"--context-file {path} is empty: give the document to verify against, or leave the option out to "
            "verify against the web.",
            parameter="context",
        )
    return text
