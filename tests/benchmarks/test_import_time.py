"""Import cost, each in fresh interpreters, interleaved rounds (median + spread, `_timing`).

1. `kluster_agents.integrations` over `import openai` (target < 150 ms);
2. each adapter's documented import over its framework's own import (target <= 1.10x):
   LangChain `ChatKluster` vs `langchain_openai.ChatOpenAI`; LiteLLM `register` (after `import
   litellm`) vs `import litellm`; PydanticAI `KlusterProvider`/`kluster_model` vs pydantic-ai's
   `OpenAIProvider`; CrewAI `kluster_llm` vs `crewai.LLM`.

Run: uv run pytest -m benchmark tests/benchmarks/test_import_time.py -s
(BENCH_IMPORT_ROUNDS sets the rounds, default 7.)
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from ._timing import compare, interleave

pytestmark = pytest.mark.benchmark

ROUNDS = int(os.environ.get("BENCH_IMPORT_ROUNDS", "7"))
# Offline and quiet, as the test suite runs: no cost-map download, no telemetry (tests/conftest.py).
ENV = {
    **os.environ,
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "CREWAI_DISABLE_TELEMETRY": "true",
    "OTEL_SDK_DISABLED": "true",
}


def _importer(statement: str) -> Callable[[], None]:
    def run() -> None:
        subprocess.run([sys.executable, "-c", statement], check=True, env=ENV)

    return run


def test_integrations_import_overhead_over_openai() -> None:
    samples = interleave(
        {
            "import openai": _importer("import openai"),
            "+ kluster_agents.integrations": _importer("import openai, kluster_agents.integrations"),
            "settings + compat": _importer(
                "from kluster_agents.integrations import KlusterSettings, prepare_chat_request"
            ),
        },
        rounds=ROUNDS,
    )
    result = compare(samples, "+ kluster_agents.integrations", "import openai")
    overhead_ms = (result.ours.median - result.base.median) * 1000
    print(f"\n{result.describe()}\n  overhead {overhead_ms:.0f} ms (target < 150 ms)")
    print(f"  settings + compat alone (they need no openai): {samples['settings + compat'].describe()}")
    assert overhead_ms < 150


ADAPTERS = {
    "langchain": (
        "langchain_openai",
        "from langchain_openai import ChatOpenAI",
        "from kluster_agents.adapters.langchain import ChatKluster",
    ),
    "litellm": ("litellm", "import litellm", "import litellm; from kluster_agents.adapters.litellm import register"),
    "pydantic_ai": (
        "pydantic_ai",
        "from pydantic_ai.providers.openai import OpenAIProvider",
        "from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model",
    ),
    "crewai": ("crewai", "from crewai import LLM", "from kluster_agents.adapters.crewai import kluster_llm"),
}


@pytest.mark.parametrize("framework", sorted(ADAPTERS))
def test_adapter_import_within_110_percent_of_the_framework(framework: str) -> None:
    module, plain, ours = ADAPTERS[framework]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    samples = interleave(
        {"python -c pass": _importer("pass"), "framework": _importer(plain), "adapter": _importer(ours)},
        rounds=ROUNDS,
    )
    result = compare(samples, "adapter", "framework")
    print(f"\n{framework} import, fresh interpreter each ({samples['python -c pass'].describe()} of it is start-up):")
    print(f"  framework: {plain}\n  adapter:   {ours}\n  {result.describe()}  (target <= 1.10x)")
    assert result.ratio <= 1.10
