"""The `kluster-agents` command line (typer + rich); `app.py` assembles the commands each area owns.

`main`, the console script, is kept light: `--version` answers without importing typer or rich, and
`emulate` starts without building the other commands, so neither waits for the rest of the CLI.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    args = sys.argv[1:]
    if args == ["--version"]:
        from kluster_agents.integrations._version import __version__

        print(f"kluster-agents {__version__}")
        return
    from kluster_agents.integrations._version import add_user_agent_product

    add_user_agent_product("kluster-agents-cli")  # the emulator's inspector names the CLI as the sender
    if args[:1] == ["emulate"]:
        from kluster_agents.integrations._cli.emulate import run_emulate

        run_emulate(args[1:])
        return
    from kluster_agents.integrations._cli.app import app

    app()
