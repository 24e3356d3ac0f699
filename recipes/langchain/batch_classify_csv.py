"""Classify every row of a CSV with one Batch API job: `ChatKluster(batch=True)` turns
`.batch()` into a kluster.ai batch (cheaper, no rate limits) and returns results in row order.
Run: uv run python recipes/langchain/batch_classify_csv.py   (no key needed: uses the emulator)
"""

import csv
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations import kluster_backend

CSV_PATH = Path(__file__).with_name("tickets.csv")


class Label(BaseModel):
    """The queue a support ticket belongs to."""

    category: Literal["billing", "bug", "how-to", "feature-request"] = Field(description="Ticket category")
    urgent: bool = Field(description="Whether the customer is blocked")


with kluster_backend() as backend:
    rows = list(csv.DictReader(CSV_PATH.open(encoding="utf-8")))
    llm = ChatKluster(
        model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", temperature=0, batch=True, batch_completion_window="24h"
    )
    classifier = llm.with_structured_output(Label)
    prompts = [[("system", "Classify the support ticket."), ("human", row["text"])] for row in rows]

    labels = classifier.batch(prompts, return_exceptions=True)

    for row, label in zip(rows, labels, strict=False):
        shown = f"{label.category:<16} urgent={label.urgent}" if isinstance(label, Label) else f"ERROR {label}"
        print(f"{row['id']:>2}  {shown}  | {row['text'][:50]}")
    if backend.emulator is not None:  # the built-in emulator's request log
        controls = backend.emulator.controls
        print(
            f"{len(rows)} rows -> {controls.count('/batches', 'POST')} Batch API job, "
            f"{controls.count('/chat/completions')} real-time calls, {len(controls.requests)} HTTP requests"
        )
