"""`kluster-agents recipes list|run`: find the runnable recipes of a source checkout and run one.

Recipes are copyable scripts that live in the repository (`recipes/<framework>/<name>.py`), not
in the installed package, so the commands look for a `recipes/` folder from the working
directory upwards (or `--dir`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column

recipes_app = typer.Typer(help="List and run the framework recipes of a kluster-agents checkout.", no_args_is_help=True)
console = Console()

DirOption = Annotated[Path | None, typer.Option("--dir", help="The recipes folder (default: ./recipes or a parent's).")]


def find_recipes_dir(start: Path | None = None) -> Path:
    """The nearest `recipes/` folder holding framework subfolders, or a clear error."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder if folder.name == "recipes" else folder / "recipes"
        if candidate.is_dir() and any(candidate.glob("*/*.py")):
            return candidate
    console.print(
        "[red]No recipes/ folder found.[/red] Recipes ship with the source repository: clone it and run "
        "this command inside the checkout, or pass --dir."
    )
    raise typer.Exit(2)


def list_recipes(recipes_dir: Path) -> list[tuple[str, str]]:
    """(framework/name, the docstring's first paragraph) for every recipe script, sorted."""
    found = []
    for script in sorted(recipes_dir.glob("*/*.py")):
        doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        first_paragraph = doc.strip().split("\n\n")[0].splitlines()
        summary = " ".join(line.strip() for line in first_paragraph if not line.startswith("Run:"))
        found.append((f"{script.parent.name}/{script.stem}", summary))
    return found


@recipes_app.command("list")
def recipes_list(
    directory: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show every recipe with what it demonstrates."""
    from kluster_agents.integrations._cli._common import print_json, table

    found = list_recipes(find_recipes_dir(directory))
    if as_json:
        print_json([{"name": name, "summary": summary} for name, summary in found])
        return
    grid = table(Column("name", no_wrap=True), Column("what it shows", ratio=1), title="kluster-agents recipes")
    for name, summary in found:
        grid.add_row(name, summary)
    console.print(grid)
    console.print("Run one: kluster-agents recipes run <name>", markup=False)


@recipes_app.command("run")
def recipes_run(
    name: Annotated[str, typer.Argument(help="framework/name, e.g. langchain/chat_streaming.")],
    directory: DirOption = None,
) -> None:
    """Run one recipe with this Python (uses the built-in emulator when KLUSTER_API_KEY is unset)."""
    recipes_dir = find_recipes_dir(directory)
    script = recipes_dir / f"{name.removesuffix('.py')}.py"
    if not script.is_file():
        known = ", ".join(n for n, _ in list_recipes(recipes_dir))
        console.print(f"[red]Unknown recipe {name!r}.[/red] Known: {known}")
        raise typer.Exit(2)
    raise typer.Exit(subprocess.call([sys.executable, str(script)]))
