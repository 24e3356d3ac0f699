"""Importing an adapter's documented names loads little beyond its framework (import time is a cost every user pays).

Each case runs in a fresh interpreter: import the framework the way its own users do, note
`sys.modules`, import the adapter, and check what the adapter added. Heavy modules that only some
calls need (all of `openai.resources`, the client subclasses, pydantic-ai's OpenAI model, the
emulator, the CLI stack, MCP) must stay out until used. The benchmark with the timings is
`tests/benchmarks/test_import_time.py`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

# Modules (and their sub-modules) an adapter import must not add to the framework's own.
HEAVY = (
    "openai.resources",
    "kluster_agents.integrations._api.kluster_openai",
    "kluster_agents.integrations.emulator",
    "kluster_agents.integrations._cli",
    "kluster_agents.integrations.mcp",
    "pydantic_ai.models.openai",
    "fastapi",
    "uvicorn",
    "starlette",
    "typer",
    "click",
    "rich",
    "mcp",
)

CASES = {
    "core": ("openai", "import openai", "import kluster_agents.integrations"),
    "langchain": (
        "langchain_openai",
        "from langchain_openai import ChatOpenAI",
        "from kluster_agents.adapters.langchain import ChatKluster",
    ),
    "litellm": ("litellm", "import litellm", "from kluster_agents.adapters.litellm import register"),
    "pydantic_ai": (
        "pydantic_ai",
        "from pydantic_ai.providers.openai import OpenAIProvider",
        "from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model",
    ),
    "crewai": ("crewai", "from crewai import LLM", "from kluster_agents.adapters.crewai import kluster_llm"),
}

# Top-level packages of every framework: an adapter may load its own, never another's.
FRAMEWORKS = {
    "core": set(),
    "langchain": {"langchain", "langchain_core", "langchain_openai"},
    "litellm": {"litellm"},
    "pydantic_ai": {"pydantic_ai"},
    "crewai": {"crewai"},
}

PROBE = """
import json, sys
{framework}
before = set(sys.modules)
{adapter}
print(json.dumps([sorted(set(sys.modules) - before), sorted(sys.modules)]))
"""


def _added_and_loaded(framework: str, adapter: str) -> tuple[list[str], list[str]]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "CREWAI_DISABLE_TELEMETRY": "true"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(framework=framework, adapter=adapter)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    ).stdout
    added, loaded = json.loads(out.strip().splitlines()[-1])
    return added, loaded


@pytest.mark.parametrize("case", sorted(CASES))
def test_adapter_import_adds_no_heavy_module_and_no_other_framework(case: str) -> None:
    module, framework, adapter = CASES[case]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    added, loaded = _added_and_loaded(framework, adapter)
    assert any(name.startswith("kluster_agents") for name in added)  # the probe really imported the adapter
    others = set().union(*FRAMEWORKS.values()) - FRAMEWORKS[case]
    assert not {name.split(".")[0] for name in loaded} & others, f"{adapter!r} imports another framework"
    heavy = sorted(name for name in added if any(name == h or name.startswith(f"{h}.") for h in HEAVY))
    assert not heavy, f"{adapter!r} loads {heavy[:8]} at import; import them where they are used"


def test_lazy_names_still_resolve_to_one_object() -> None:
    """The lazy packages hand out the defining module's object (no copies, no stale duplicates)."""
    import kluster_agents.integrations as core
    from kluster_agents.integrations import mcp
    from kluster_agents.integrations._api.settings import KlusterSettings
    from kluster_agents.integrations._jobs.batch.run import run_batch
    from kluster_agents.integrations._verify.client import verify as verify_fn

    assert core.KlusterSettings is KlusterSettings
    assert core.run_batch is run_batch
    assert core.verify is verify_fn
    assert callable(mcp.enable)
    for package in (core, mcp):
        assert set(package.__all__) <= set(dir(package))
        with pytest.raises(AttributeError):
            package.no_such_name  # noqa: B018
