"""Starting the emulator loads neither the openai client nor the MCP SDK, nor pydantic-settings or jsonschema:
the emulator answers without the first two, needs the others only for some requests, and importing them is
most of its start-up time. Checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from kluster_agents.integrations.emulator.cli import emulate
from kluster_agents.integrations.emulator.app import create_app
create_app(api_key="k")
heavy = ("openai", "mcp", "pydantic_settings", "jsonschema")
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_starting_the_emulator_imports_no_client_mcp_settings_or_jsonschema() -> None:
    loaded = subprocess.run([sys.executable, "-c", CHECK], check=True, capture_output=True, text=True).stdout
    assert loaded.split() == []
