"""A tool-using PydanticAI agent on kluster.ai: the model calls a Python function, reads its
result and answers — a multi-turn tool loop through kluster's compat layer.
Run: python recipes/pydantic_ai/tool_agent.py   (no key needed: uses the emulator)
"""

from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import kluster_model
from kluster_agents.integrations import kluster_backend

STOCK = {"widget": 42, "gadget": 0}

with kluster_backend() as backend:
    agent = Agent(
        kluster_model("kluster:llama-3.3-70b"),
        instructions="Answer stock questions. Always call check_stock before answering.",
    )

    @agent.tool_plain
    def check_stock(product: str) -> str:
        """How many units of a product are in stock."""
        return f"{STOCK.get(product.lower(), 0)} units of {product} in stock"

    result = agent.run_sync("How many units of the 'widget' product do we have?")
    calls = [p.tool_name for m in result.all_messages() for p in m.parts if p.part_kind == "tool-call"]
    print("tools called:", calls)
    print("answer:", result.output)
