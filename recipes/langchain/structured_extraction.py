"""Structured extraction into a pydantic model. kluster.ai has no `response_format`, so
ChatKluster uses a forced tool call on models with tools and validated, retried prompted JSON
on models without — the same `with_structured_output` call either way.
Run: uv run python recipes/langchain/structured_extraction.py   (no key needed: uses the emulator)
"""

from pydantic import BaseModel, Field

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations import kluster_backend


class Invoice(BaseModel):
    """An invoice mentioned in an email."""

    vendor: str = Field(description="Company that issued the invoice")
    amount_eur: float = Field(description="Total amount in euros")
    due_date: str = Field(description="Due date, ISO 8601")


EMAIL = "Hi, Acme GmbH sent invoice #42 over 1,250.00 EUR, payable by 2025-03-31. Thanks, Bob"

with kluster_backend() as backend:
    for model in ("klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", "mistralai/Mistral-Nemo-Instruct-2407"):
        llm = ChatKluster(model=model, temperature=0)
        how = "tool calling" if llm.supports_tools else "prompted JSON"
        out = llm.with_structured_output(Invoice, include_raw=True).invoke(f"Extract the invoice:\n{EMAIL}")
        print(f"{model} ({how}):")
        print("  parsed:", repr(out["parsed"]))
        print("  parsing_error:", out["parsing_error"])
