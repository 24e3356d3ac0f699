"""Building the emulator app loads neither the openai client nor the MCP SDK: the emulator uses neither
to answer, and importing them is most of its start-up time. Checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from kluster_agents.integrations.emulator._server.app import create_app
create_app(api_key="k")
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in ("openai", "mcp"))))
"""


def test_building_the_emulator_app_imports_neither_openai_nor_mcp() -> None:
    loaded = subprocess.run([sys.executable, "-c", CHECK], check=True, capture_output=True, text=True).stdout
    assert loaded.split() == []
