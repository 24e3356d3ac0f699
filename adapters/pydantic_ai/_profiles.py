"""PydanticAI model profiles for kluster.ai models, derived from the model catalog.

The catalog (`integrations.models`) decides what a model can do; this module only turns that
into the `OpenAIModelProfile` flags that make `OpenAIChatModel` send requests kluster accepts:

- `response_format` with `json_schema` is refused by the compat layer, so native JSON-schema
  output is not offered; structured output uses an output *tool* on tool-capable models and
  *prompted* JSON (validated, retried) elsewhere. JSON mode (`{"type": "json_object"}`) is
  accepted, so prompted output asks for it.
- Tool options are decided once, in compat, for every framework: a tool's `strict` is sent as
  given and `tool_choice="required"` is sent, so pydantic-ai must not strip or downgrade them.
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

from kluster_agents.integrations._api.catalog import get_model, supports_tools
from kluster_agents.integrations._api.settings import KlusterSettings

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
        supports_json_schema_output=False,  # compat refuses response_format json_schema
        supports_json_object_output=True,  # JSON mode observed accepted by kluster (real batch inputs)
        default_structured_output_mode="tool" if tools else "prompted",
        openai_supports_strict_tool_definition=tools,  # compat sends `strict` as given on tool models
        openai_supports_tool_choice_required=tools,  # compat sends "required" on tool models
        openai_chat_supports_max_completion_tokens=True,
    )
    base = OpenAIModelProfile(json_schema_transformer=OpenAIJsonSchemaTransformer)
    family = _family_profile(info.base_model or info.id)
    # merge_profile is typed to return the base ModelProfile; merging OpenAIModelProfiles gives one.
    return merge_profile(base, family, kluster)  # type: ignore[return-value]
