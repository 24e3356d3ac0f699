"""Starting the emulator loads neither the openai client nor the MCP SDK, nor pydantic-settings or jsonschema:
the emulator answers without the first two, needs the others only for some requests, and importing them is
most of its start-up time. Checked in a fresh interpreter."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

CHECK = """
import sys
from kluster_agents.integrations.emulator._server.emulate_command import emulate
from kluster_agents.integrations.emulator._server.app import create_app
create_app(api_key="k")
heavy = ("openai", "mcp", "pydantic_settings", "jsonschema")
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_starting_the_emulator_imports_no_client_mcp_settings_or_jsonschema() -> None:
    loaded = subprocess.run([sys.executable, "-c", CHECK], check=True, capture_output=True, text=True).stdout
    assert loaded.split() == []


# `kluster-agents emulate` through the console script's `main`, reporting at exit what the process loaded.
EMULATE = """
import atexit, sys
atexit.register(lambda: print("LOADED " + " ".join(sorted(sys.modules)), flush=True))
sys.argv = ["kluster-agents", "emulate", "--port", "0", "--quiet"]
from kluster_agents.integrations._cli import main
main()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_kluster_agents_emulate_answers_without_the_openai_client(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", EMULATE],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        base_url = None
        for line in proc.stdout:
            found = re.search(r"base URL : (\S+)", line)
            base_url = found.group(1) if found else base_url
            if "Press Ctrl-C" in line:
                break
        assert base_url is not None, "the emulator did not start"
        reply = httpx.get(f"{base_url}/models", headers={"Authorization": "Bearer emulator"}, timeout=30)
        assert reply.status_code == 200
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    loaded = next(line for line in rest.splitlines() if line.startswith("LOADED ")).split()[1:]
    assert not {name.split(".")[0] for name in loaded} & {"openai", "mcp", "pydantic_settings"}
