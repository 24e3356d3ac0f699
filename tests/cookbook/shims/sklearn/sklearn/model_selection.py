"""`train_test_split` for a data frame, as the fine-tuning program calls it (see ../../README.md)."""

from __future__ import annotations

import math
import random
from typing import Any


def train_test_split(frame: Any, test_size: float = 0.25, random_state: int | None = None) -> tuple[Any, Any]:
    positions = list(range(len(frame)))
    random.Random(random_state).shuffle(positions)
    n_test = math.ceil(len(positions) * test_size)
    return frame.iloc[positions[n_test:]], frame.iloc[positions[:n_test]]
