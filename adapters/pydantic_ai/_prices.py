"""kluster prices for pydantic-ai's `ModelResponse.cost()` (and the cost Logfire/OTel spans show).

pydantic-ai prices usage through `genai-prices`, which knows no "kluster" provider. genai-prices
looks prices up in one process-wide snapshot, replaceable with `set_custom_snapshot`; `install()`
puts a thin one in front of whatever snapshot is current: requests to kluster (provider id
"kluster", or the api.kluster.ai URL) are priced from `integrations.api.prices` at the moment of the
call (so `set_price()` applies; answers of batch jobs and adaptive requests, named "kluster-batch" by
`KlusterChatModel`, at batch prices, of which none are known until set), everything else goes to the
previous snapshot, loaded only when
first used (the bundled price data takes ~0.4 s to load). Models without a known per-token price
(`price_of` is None: dedicated endpoints, unknown names) raise `LookupError`, as genai-prices does for
any model it does not know, rather than report another model's figure. A later `UpdatePrices` replaces
the snapshot, and kluster models are then unknown again.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from genai_prices import data_snapshot, types

from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations._api.prices import PriceMode, price_of

PROVIDER_ID = "kluster"
BATCH_PROVIDER_ID = "kluster-batch"
"""The provider name on answers that came through a batch job (batch runs, adaptive requests)."""
API_PATTERN = r"https://api\.kluster\.ai"


def _model_price(model_ref: str, mode: PriceMode) -> types.ModelInfo | None:
    info = get_model(model_ref)
    price = price_of(info.id, mode=mode)
    if price is None:
        return None
    return types.ModelInfo(
        id=info.id,
        match=types.ClauseEquals(equals=info.id),
        name=info.display_name,
        prices=types.ModelPrice(
            input_mtok=Decimal(str(price.input_per_million)), output_mtok=Decimal(str(price.output_per_million))
        ),
        price_comments=price.source,
    )


KLUSTER = types.Provider(
    id=PROVIDER_ID,
    name="kluster.ai",
    api_pattern=API_PATTERN,
    pricing_urls=["https://www.kluster.ai/pricing"],
    description="kluster.ai real-time prices from kluster_agents.integrations._api.prices",
)


class _WithKluster(data_snapshot.DataSnapshot):
    """A genai-prices snapshot that prices kluster requests itself and hands the rest to `previous`.

    It deliberately skips `DataSnapshot.__init__`: every attribute but `calc` is the previous snapshot's.
    """

    def __init__(self, previous: data_snapshot.DataSnapshot | None) -> None:
        self._previous = previous

    def _base(self) -> data_snapshot.DataSnapshot:
        return self._previous or data_snapshot._bundled_snapshot()

    def __getattr__(self, name: str) -> Any:
        if name == "_previous":  # not set yet (copy/pickle): no recursion
            raise AttributeError(name)
        return getattr(self._base(), name)

    def calc(
        self,
        usage: types.AbstractUsage,
        model_ref: str,
        provider_id: str | None,
        provider_api_url: str | None,
        genai_request_timestamp: datetime | None,
        price_context: types.PriceContext | None = None,
    ) -> types.PriceCalculation:
        provider = (provider_id or "").lower().strip()
        kluster = provider in (PROVIDER_ID, BATCH_PROVIDER_ID) or bool(
            provider_api_url and re.match(API_PATTERN, provider_api_url)
        )
        if not kluster:
            return self._base().calc(
                usage, model_ref, provider_id, provider_api_url, genai_request_timestamp, price_context
            )
        mode: PriceMode = "batch" if provider == BATCH_PROVIDER_ID else "realtime"
        model = _model_price(model_ref, mode)
        if model is None:
            raise LookupError(
                f"Unable to find model with {model_ref=!r} in {PROVIDER_ID} (no known {mode} per-token price; "
                "set one with kluster_agents.integrations._api.prices.set_price)"
            )
        return model.calc_price(
            usage,
            dataclasses.replace(KLUSTER, models=[model]),
            genai_request_timestamp=genai_request_timestamp or datetime.now(tz=UTC),
            auto_update_timestamp=None,
            price_context=price_context,
        )


def install() -> None:
    """Put kluster's prices in front of genai-prices' current snapshot (once)."""
    current = data_snapshot._custom_snapshot
    if isinstance(current, _WithKluster):
        return
    data_snapshot.set_custom_snapshot(_WithKluster(current))
