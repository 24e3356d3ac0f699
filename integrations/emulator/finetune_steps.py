"""The training-step events of an emulated fine-tuning job: "Step k/N: training loss=…" and
"Checkpoint created at step N", as observed on the live service (kluster-docs README,
examples/finetuning-sent-analysis.ipynb). Losses are synthetic (a deterministic decaying curve),
spread evenly over the job's running phase."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_STEP_EVENTS = 500  # the live service sent 270 steps in one job; longer jobs are sampled


def _count(value: Any, default: int) -> int:
    return value if isinstance(value, int) and value > 0 else default  # "auto" and the like: the default


def training_step_events(
    examples: int, hyperparameters: Mapping[str, Any], start: float, end: float
) -> list[tuple[int, str]]:
    """(timestamp, message) for each training step (sampled above `MAX_STEP_EVENTS`) and the final checkpoint."""
    n_epochs, batch_size = _count(hyperparameters.get("n_epochs"), 1), _count(hyperparameters.get("batch_size"), 1)
    total = max(1, math.ceil(max(1, examples) / max(1, batch_size)) * max(1, n_epochs))
    stride = max(1, math.ceil(total / MAX_STEP_EVENTS))
    steps = [*range(stride, total, stride), total]
    events = []
    for step in steps:
        loss = 0.08 + 2.2 * math.exp(-4.0 * step / total) + 0.06 * ((step * 7919) % 13) / 13
        at = int(start + (end - start) * step / total)
        events.append((at, f"Step {step}/{total}: training loss={loss:.4f}"))
    events.append((int(end), f"Checkpoint created at step {total}"))
    return events
