"""PydanticAI model profiles for kluster.ai models, derived from the model catalog.

The catalog (`integrations.models`) decides what a model can do; this module only turns that
into the `OpenAIModelProfile` flags that make `OpenAIChatModel` send requests kluster accepts:

- `response_format` is unsupported (docs "Compatibility with OpenAI client libraries"), so
  neither native JSON-schema output nor JSON mode is offered; structured output uses an
  output *tool* on tool-capable models and *prompted* JSON (validated, retried) elsewhere.
- `strict` on tool definitions is not part of kluster's documented API: never sent.
- `tool_choice="required"` is not documented either (only `tool_choice` itself, on some
  models): pydantic-ai then sends `"auto"` and retries when the model answers in text.
  Opt in per model with `profile={"openai_supports_tool_choice_required": True}`.
- `max_tokens` is deprecated in favour of `max_completion_tokens`.

Family profiles (schema transformers, streamed-whitespace and thinking quirks) are layered
in the way pydantic-ai's Together/Fireworks providers do it, by the id's organisation prefix.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic_ai.profiles import ModelProfile, merge_profile
from pydantic_ai.profiles.deepseek import deepseek_model_profile
from pydantic_ai.profiles.meta import meta_model_profile
from pydantic_ai.profiles.mistral import mistral_model_profile
from pydantic_ai.profiles.openai import OpenAIJsonSchemaTransformer, OpenAIModelProfile
from pydantic_ai.profiles.qwen import qwen_model_profile

from kluster_agents.integrations.api.catalog import get_model, supports_tools
from kluster_agents.integrations.api.settings import KlusterSettings

# Organisation prefix of a kluster model id -> pydantic-ai family profile. Gemma is served by
# kluster through the OpenAI API, so Google's Gemini-specific profile does not apply to it.
_FAMILY_PROFILES: dict[str, Callable[[str], ModelProfile | None]] = {
    "klusterai": meta_model_profile,  # klusterai/Meta-Llama-* are Llama models
    "meta-llama": meta_model_profile,
    "deepseek-ai": deepseek_model_profile,
    "qwen": qwen_model_profile,
    "mistralai": mistral_model_profile,
}


def _family_profile(model_id: str) -> ModelProfile | None:
    org, _, name = model_id.lower().rpartition("/")
    factory = _FAMILY_PROFILES.get(org)
    return factory(name) if factory else None


def kluster_model_profile(model_name: str, settings: KlusterSettings | None = None) -> OpenAIModelProfile:
    """The `OpenAIModelProfile` for any kluster model name (alias, fine-tuned name, endpoint ID)."""
    info = get_model(model_name)
    tools = supports_tools(info, settings)
    kluster = OpenAIModelProfile(
        supports_tools=tools,
        supports_json_schema_output=False,
        supports_json_object_output=False,
        default_structured_output_mode="tool" if tools else "prompted",
        openai_supports_strict_tool_definition=False,
        openai_supports_tool_choice_required=False,
        openai_chat_supports_max_completion_tokens=True,
    )
    base = OpenAIModelProfile(json_schema_transformer=OpenAIJsonSchemaTransformer)
    family = _family_profile(info.base_model or info.id)
    # merge_profile is typed to return the base ModelProfile; merging OpenAIModelProfiles gives one.
    return merge_profile(base, family, kluster)  # type: ignore[return-value]
