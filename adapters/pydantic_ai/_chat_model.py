"""`KlusterChatModel`: pydantic-ai's `OpenAIChatModel` with kluster's typed errors and settings.

Its own module because `pydantic_ai.models.openai` is slow to import: `KlusterProvider` alone
(what a user passes to their own model) does not pay for it; `kluster_model()` does, on first call.
Importing it also teaches `ModelResponse.cost()` kluster's prices (`_prices`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIChatModelSettings
from pydantic_ai.settings import ModelSettings, merge_model_settings

from kluster_agents.adapters.pydantic_ai import _prices
from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._api.openai_errors import raise_typed
from kluster_agents.integrations._jobs.adaptive import AdaptiveMode, with_adaptive

_prices.install()


class KlusterModelSettings(OpenAIChatModelSettings, total=False):
    """Model settings for kluster models: pydantic-ai's OpenAI settings plus kluster's own (`kluster_`-prefixed,
    so they merge with other models' settings as pydantic-ai's provider settings do).

    `Agent(kluster_model(...), model_settings=KlusterModelSettings(kluster_adaptive=True))`, or per run.
    """

    kluster_adaptive: bool | AdaptiveMode | Mapping[str, Any] | None
    """Adaptive ("async") inference: True, a dict of `AdaptiveMode` fields or an `AdaptiveMode`. Each model
    request becomes a queued job whose real answer the run receives (cheaper, for work that can wait);
    streaming runs are refused before the network."""


def _kluster_options(settings: ModelSettings | None) -> ModelSettings | None:
    """`settings` with `kluster_adaptive` turned into the request's `metadata` (in `extra_body`, the only
    way an `OpenAIChatModel` sends it), the user's own metadata kept."""
    if not settings or "kluster_adaptive" not in settings:
        return settings
    rest = {k: v for k, v in settings.items() if k != "kluster_adaptive"}
    mode = AdaptiveMode.coerce(settings["kluster_adaptive"])  # type: ignore[typeddict-item]
    if mode is not None:
        extra_body = rest.get("extra_body") or {}
        if not isinstance(extra_body, Mapping):
            raise KlusterConfigError(
                f"kluster_adaptive needs extra_body to be a dict (the adaptive options join its metadata); got "
                f"{type(extra_body).__name__}."
            )
        rest["extra_body"] = with_adaptive(dict(extra_body), mode)
    return rest  # type: ignore[return-value]


class KlusterChatModel(OpenAIChatModel):
    """`OpenAIChatModel` whose failures are `KlusterError`s that are also pydantic-ai's own types
    (a 401 is a `KlusterAuthError` and a `ModelHTTPError`, so `FallbackModel` still falls back), and
    which understands `KlusterModelSettings`."""

    def prepare_request(
        self,
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelSettings | None, ModelRequestParameters]:
        settings, parameters = super().prepare_request(model_settings, model_request_parameters)
        return _kluster_options(settings), parameters

    answers_via_batch = False
    """True for a model whose every answer comes from a Batch API job (`run_many(via="batch")`)."""

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        try:
            response = await super().request(messages, model_settings, model_request_parameters)
        except Exception as exc:
            raise_typed(exc)
            raise
        merged: dict[str, Any] = dict(merge_model_settings(self.settings, model_settings) or {})
        if self.answers_via_batch or AdaptiveMode.coerce(merged.get("kluster_adaptive")) is not None:
            # batch and adaptive answers are priced at batch rates: `cost()` looks them up under their own name
            response = replace(response, provider_name=_prices.BATCH_PROVIDER_ID)
        return response

    @asynccontextmanager
    async def request_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        try:
            async with super().request_stream(*args, **kwargs) as stream:
                yield stream
        except Exception as exc:
            raise_typed(exc)
            raise
