"""Prices per model and mode, as data with their source — for cost tracking (LiteLLM's
`completion_cost`, PydanticAI's `cost()`, batch results), never for billing.

Source: a third-party gateway's public provider page (Lava, "kluster" provider; undated, captured
in the project's kluster-docs README, 2026-11): real-time USD per 1M tokens, input / output.
kluster's own pricing page is not in the docs copy; batch prices (which adaptive requests, queued as
batch jobs, pay too) differ by completion window and are not captured, so none are given until you
`set_price(..., mode="batch")`. Dedicated endpoints bill per minute of deployment with no per-token
fee (docs, "Dedicated deployments"), so they have no per-token price at all. A model without a price
reports none (`None`, shown as unknown) rather than a made-up figure.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

from kluster_agents.integrations._api.catalog import get_model

PriceMode = Literal["realtime", "batch", "adaptive"]
DEDICATED_BILLING = "dedicated endpoints bill per minute of deployment, with no per-token fee"

SOURCE = "Lava gateway public provider page 'kluster' (undated), via kluster-docs README, captured 2026-11"


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    input_per_million: float
    output_per_million: float
    source: str = SOURCE

    @property
    def input_per_token(self) -> float:
        return self.input_per_million / 1_000_000

    @property
    def output_per_token(self) -> float:
        return self.output_per_million / 1_000_000


REALTIME_PRICES: dict[str, Price] = {
    "deepseek-ai/DeepSeek-R1-0528": Price(3.00, 5.00),
    "meta-llama/Llama-4-Scout-17B-16E-Instruct": Price(0.80, 0.45),
    "deepseek-ai/DeepSeek-V3-0324": Price(0.70, 1.40),
    "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo": Price(0.70, 0.70),
    "google/gemma-3-27b-it": Price(0.35, 0.35),
    "Qwen/Qwen2.5-VL-7B-Instruct": Price(0.30, 0.30),
    "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8": Price(0.20, 0.80),
    "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo": Price(0.18, 0.18),
    "Qwen/Qwen3-235B-A22B-FP8": Price(0.15, 2.00),
}
BATCH_PRICES: dict[str, Price] = {}
"""None captured (they differ by completion window on the vendor's site): set yours with `set_price`."""
_overrides: dict[tuple[str, str], Price] = {}
_lock = threading.Lock()


def _table(mode: PriceMode) -> tuple[str, dict[str, Price]]:
    """Adaptive requests are queued as batch jobs and priced as batch."""
    return ("realtime", REALTIME_PRICES) if mode == "realtime" else ("batch", BATCH_PRICES)


def set_price(
    model: str,
    input_per_million: float,
    output_per_million: float,
    *,
    source: str = "user",
    mode: PriceMode = "realtime",
) -> Price:
    """Override (or add) the price of `model` (any name the catalog resolves) in `mode` for this process."""
    price = Price(input_per_million, output_per_million, source)
    with _lock:
        _overrides[(_table(mode)[0], get_model(model).id)] = price
    return price


def clear_price_overrides() -> None:
    with _lock:
        _overrides.clear()


def price_of(model: str, *, mode: PriceMode = "realtime") -> Price | None:
    """The per-token price of `model` in `mode` (a fine-tuned model: its base model's), or None when unknown.

    Dedicated endpoints have none unless you set one for the endpoint itself (`DEDICATED_BILLING`)."""
    info = get_model(model)
    name, table = _table(mode)
    keys = (info.id,) if info.kind == "dedicated" else (info.id, info.base_model)
    for key in keys:
        if key and ((name, key) in _overrides or key in table):
            return _overrides.get((name, key)) or table[key]
    return None


def cost_of(model: str, usage: Any, *, mode: PriceMode = "realtime") -> float | None:
    """USD for one answer's `usage` (prompt/completion tokens), or None when the price or usage is unknown."""
    price = price_of(model, mode=mode)
    prompt: int | None = getattr(usage, "prompt_tokens", None)
    completion: int | None = getattr(usage, "completion_tokens", None)
    if price is None or prompt is None or completion is None:
        return None
    return prompt * price.input_per_token + completion * price.output_per_token


__all__ = [
    "BATCH_PRICES",
    "DEDICATED_BILLING",
    "REALTIME_PRICES",
    "SOURCE",
    "Price",
    "PriceMode",
    "clear_price_overrides",
    "cost_of",
    "price_of",
    "set_price",
]
