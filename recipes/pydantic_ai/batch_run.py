"""One PydanticAI agent over a list of inputs through the Batch API: the runs' model requests
are coalesced into one batch job (cheaper than real time); results come back in input order,
with a per-input error instead of a failed run.
Run: python recipes/pydantic_ai/batch_run.py   (no key needed: uses the emulator)
"""

from typing import Literal

from pydantic import BaseModel
from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import kluster_model, run_many_sync
from kluster_agents.integrations import kluster_backend


class Review(BaseModel):
    sentiment: Literal["positive", "negative", "mixed"]
    summary: str


REVIEWS = [
    "Arrived early and works perfectly.",
    "Broke after two days, support never answered.",
    {"user_prompt": "Great screen, weak battery.", "model_settings": {"max_tokens": 10**9}},  # over the tier limit
    "Does what it says.",
]

with kluster_backend() as backend:
    agent = Agent(
        kluster_model("klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"),
        output_type=Review,
        instructions="Classify the product review.",
    )
    outcomes = run_many_sync(agent, REVIEWS, via="batch", poll_interval=0.05 if backend.emulated else None)
    for outcome in outcomes:
        if outcome.ok:
            print(f"{outcome.index}: {outcome.output!r}")
        else:
            print(f"{outcome.index}: ERROR {type(outcome.error).__name__}: {str(outcome.error)[:90]}")
