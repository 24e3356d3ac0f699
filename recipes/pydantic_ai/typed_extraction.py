"""Typed extraction with PydanticAI on kluster.ai: one pydantic model out, on two kinds of model.

Llama 3.3 70B has tools, so the output arrives as an output-tool call; Mistral NeMo has none,
so the schema goes into the instructions and the JSON answer is validated (and retried).
Run: python recipes/pydantic_ai/typed_extraction.py   (no key needed: uses the emulator)
"""

from pydantic import BaseModel, Field
from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import kluster_model
from kluster_agents.integrations import kluster_backend


class Invoice(BaseModel):
    vendor: str = Field(description="Who issued the invoice")
    total_eur: float = Field(description="Amount due, in euros")
    due_date: str = Field(description="ISO date the payment is due")


TEXT = "ACME GmbH billed us 1,250.00 EUR for consulting; payment is due on 2026-12-15."

with kluster_backend() as backend:
    for model_name in ("klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", "mistralai/Mistral-Nemo-Instruct-2407"):
        model = kluster_model(model_name)
        agent = Agent(model, output_type=Invoice, instructions="Extract the invoice fields.")
        invoice = agent.run_sync(TEXT).output
        mode = model.profile["default_structured_output_mode"]
        print(f"{model_name} ({mode} output): {invoice!r}")
