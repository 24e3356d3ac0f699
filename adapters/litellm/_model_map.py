"""The catalog as LiteLLM sees it: `kluster/<id>` names, model-map entries (context, output limit,
capabilities, prices) and the OpenAI parameters each model takes."""

from __future__ import annotations

import logging
from typing import Any

import litellm

from kluster_agents.adapters.litellm._errors import PROVIDER
from kluster_agents.integrations._api.catalog import ModelInfo, get_model, list_models, supports_tools
from kluster_agents.integrations._api.prices import price_of
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings

PREFIX = f"{PROVIDER}/"


def model_name(model: str) -> str:
    """`kluster/<id>` -> `<id>` (LiteLLM strips the prefix before calling us; users may not)."""
    return model[len(PREFIX) :] if model.startswith(PREFIX) else model


def model_info_entry(info: ModelInfo, settings: KlusterSettings) -> dict[str, Any]:
    """LiteLLM model-map entry for one catalog model on the settings' tier, with its real-time (and batch)
    price where one is known (`integrations._api.prices`; none rather than a made-up $0 elsewhere; a
    dedicated endpoint bills per minute, so it has no per-token price)."""
    limits = info.limits_for(settings.tier)
    if info.embedding:
        return {
            "litellm_provider": PROVIDER,
            "mode": "embedding",
            "output_vector_size": info.dimensions,
            **({"max_input_tokens": limits.context, "max_tokens": limits.context} if limits else {}),
        }
    entry: dict[str, Any] = {
        "litellm_provider": PROVIDER,
        "mode": "chat",
        "supports_function_calling": supports_tools(info, settings),
        "supports_tool_choice": supports_tools(info, settings),
        "supports_parallel_function_calling": supports_tools(info, settings),
        "supports_vision": info.vision,
        "supports_reasoning": info.reasoning,
        "supports_response_schema": True,  # json_schema served by a forced tool call or prompted JSON
        "supports_system_messages": True,
    }
    price = price_of(info.id)
    if price is not None:
        entry.update(input_cost_per_token=price.input_per_token, output_cost_per_token=price.output_per_token)
    batch_price = price_of(info.id, mode="batch")  # LiteLLM's batch-cost fields; none published, so usually unset
    if batch_price is not None:
        entry.update(
            input_cost_per_token_batches=batch_price.input_per_token,
            output_cost_per_token_batches=batch_price.output_per_token,
        )
    if limits is not None:
        entry.update(
            max_input_tokens=limits.context,
            max_output_tokens=limits.max_output,
            max_tokens=limits.max_output,
            rpm=limits.rpm,
        )
    return {k: v for k, v in entry.items() if v is not None}


def model_map(settings: KlusterSettings | None = None) -> dict[str, dict[str, Any]]:
    """`kluster/<id>` (and `kluster/<alias>`) -> model-map entry, for every catalog model."""
    settings = resolve_settings(settings)
    entries: dict[str, dict[str, Any]] = {}
    for info in list_models():
        entry = model_info_entry(info, settings)
        for name in (info.id, *info.aliases):
            entries[PREFIX + name] = entry
    return entries


def valid_models() -> list[str]:
    """`kluster/<id>` for every chat and embedding model of the catalog (and registered ones)."""
    return [PREFIX + info.id for info in list_models() if not info.verify]


def register_entries(entries: dict[str, dict[str, Any]]) -> None:
    """Add entries to LiteLLM's model map, without its per-entry warning that cache pricing defaults to 0
    (kluster has no cache prices)."""
    logger = logging.getLogger("LiteLLM")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        litellm.register_model(entries)
    finally:
        logger.setLevel(level)


def register_lazy_entry(model: str, settings: KlusterSettings | None) -> None:
    """Add a fine-tuned or dedicated model (its base model's capabilities) to LiteLLM's model map on
    first use; names that reveal no base model stay unmapped (LiteLLM then says it does not know)."""
    key = PREFIX + model_name(model)
    if key in litellm.model_cost:
        return
    info = get_model(model_name(model))
    if info.kind not in ("fine-tuned", "dedicated") or info.base_model is None:
        return
    register_entries({key: model_info_entry(info, resolve_settings(settings))})


# What a kluster chat request may carry, per the docs' compatibility page (no n, store, stream_options,
# audio, modalities, service_tier...) and the catalog (tools on some models, reasoning_effort on
# reasoning models, dropped by compat with a warning since the docs document no such parameter).
_BASE_PARAMS = (
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "seed",
    "stop",
    "stream",
    "temperature",
    "top_p",
    "response_format",  # json_object natively (observed); json_schema via a tool call or prompted JSON
    "max_retries",
    "extra_headers",
    "user",
)
_TOOL_PARAMS = ("tools", "tool_choice", "parallel_tool_calls", "functions", "function_call")


def supported_openai_params(model: str, settings: KlusterSettings | None = None) -> list[str]:
    """The OpenAI parameters a `kluster/<model>` call takes (`litellm.get_supported_openai_params`)."""
    info = get_model(model_name(model))
    params = list(_BASE_PARAMS)
    if supports_tools(info, settings):
        params += _TOOL_PARAMS
    if info.reasoning:
        params.append("reasoning_effort")
    return params
