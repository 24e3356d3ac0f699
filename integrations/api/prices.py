"""Real-time prices per model, as data with their source — for cost tracking (LiteLLM's
`completion_cost`, the proxy's spend), never for billing.

Source: a third-party gateway's public provider page (Lava, "kluster" provider; undated, captured
in the project's kluster-docs README, 2026-11): USD per 1M tokens, input / output. kluster's own
pricing page is not in the docs copy; batch prices differ by completion window and are not captured,
so none are given. Override with `set_price()` (your contract, a newer page); models without a
price report none rather than a made-up $0.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from kluster_agents.integrations.api.catalog import get_model

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
_overrides: dict[str, Price] = {}
_lock = threading.Lock()


def set_price(model: str, input_per_million: float, output_per_million: float, *, source: str = "user") -> Price:
    """Override (or add) the price of `model` (any name the catalog resolves) for this process."""
    price = Price(input_per_million, output_per_million, source)
    with _lock:
        _overrides[get_model(model).id] = price
    return price


def clear_price_overrides() -> None:
    with _lock:
        _overrides.clear()


def price_of(model: str) -> Price | None:
    """The real-time price of `model` (a fine-tuned or dedicated model: its base model's), or None."""
    info = get_model(model)
    for key in (info.id, info.base_model):
        if key and (key in _overrides or key in REALTIME_PRICES):
            return _overrides.get(key) or REALTIME_PRICES[key]
    return None


__all__ = ["REALTIME_PRICES", "SOURCE", "Price", "clear_price_overrides", "price_of", "set_price"]
