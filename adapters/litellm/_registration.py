"""`register()`: install `KlusterLLM` as LiteLLM's `kluster` provider, put the catalog in LiteLLM's
model map, and wrap the few LiteLLM functions that have no plug-in point for a custom provider
(its supported-parameter list, the parameter filter, model listing and lookup, and the `messages`
clean-up that crashes on a non-list). Each wrapper is installed once and passes every other
provider through untouched."""

from __future__ import annotations

import threading
from typing import Any

import litellm
from litellm.utils import custom_llm_setup

from kluster_agents.adapters.litellm._errors import PROVIDER, LiteLLMKlusterInvalidRequestError
from kluster_agents.adapters.litellm._handler import KlusterLLM
from kluster_agents.adapters.litellm._model_map import (
    PREFIX,
    model_map,
    model_name,
    register_entries,
    register_lazy_entry,
    supported_openai_params,
    valid_models,
)
from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations._api.compat import check_message_list
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings

_register_lock = threading.Lock()


def _installed_handler() -> KlusterLLM | None:
    for item in litellm.custom_provider_map:
        if item["provider"] == PROVIDER and isinstance(item["custom_handler"], KlusterLLM):
            return item["custom_handler"]
    return None


def register(settings: KlusterSettings | None = None, **overrides: Any) -> KlusterLLM:
    """Make `litellm.completion/acompletion(model="kluster/<model>")` work (idempotent).

    Adds the `kluster` provider to `litellm.custom_provider_map` (once; a second call updates
    its settings) and the catalog's context window, max output and capabilities to LiteLLM's
    model map, so `litellm.get_model_info("kluster/<id>")` and `supports_function_calling`
    answer from the catalog. Without `settings`, KLUSTER_* variables are read at call time.
    """
    settings = resolve_settings(settings, **overrides) if (settings or overrides) else None
    with _register_lock:
        handler = _installed_handler()
        if handler is None:
            handler = KlusterLLM(settings)
            litellm.custom_provider_map = [
                *(item for item in litellm.custom_provider_map if item["provider"] != PROVIDER),
                {"provider": PROVIDER, "custom_handler": handler},
            ]
        else:
            handler.settings = settings
        custom_llm_setup()
        register_entries(model_map(settings))
        _install_supported_params()
        _install_param_passthrough()
        _install_model_lookups()
        _install_message_check()
    return handler


_patch_lock = threading.Lock()


def _is_kluster_call(model: Any, custom_llm_provider: Any) -> bool:
    """Whether a LiteLLM call is ours: the provider named, or a `kluster/` model with none named."""
    return custom_llm_provider == PROVIDER or (
        custom_llm_provider is None and isinstance(model, str) and model.startswith(PREFIX)
    )


def _install_supported_params() -> None:
    """Answer `litellm.get_supported_openai_params(model, "kluster")` from the catalog. LiteLLM has no
    plug-in point for a custom provider's list (it answers OpenAI's full list), so the names it is
    called by are wrapped once; every other provider passes through untouched.

    The public name gives kluster's list. LiteLLM's own request check (`litellm.utils`) keeps the
    OpenAI-like list plus `reasoning_effort` on reasoning models: what kluster does not accept is
    then dropped, translated or refused by compat with a typed error saying what to do, rather than
    by LiteLLM's generic UnsupportedParamsError."""
    import litellm.utils as litellm_utils

    with _patch_lock:
        original = litellm_utils.get_supported_openai_params
        if getattr(original, "_kluster", False):
            return

        def get_supported_openai_params(
            model: str, custom_llm_provider: str | None = None, *args: Any, _adapter: bool = True, **kwargs: Any
        ) -> list[str] | None:
            if _is_kluster_call(model, custom_llm_provider):
                if not _adapter:
                    return supported_openai_params(model, _installed_settings())
                params = list(original(model, custom_llm_provider, *args, **kwargs) or [])
                if get_model(model_name(model)).reasoning and "reasoning_effort" not in params:
                    params.append("reasoning_effort")
                return params
            return original(model, custom_llm_provider, *args, **kwargs)

        def public(model: str, custom_llm_provider: str | None = None, *args: Any, **kwargs: Any) -> list[str] | None:
            return get_supported_openai_params(model, custom_llm_provider, *args, _adapter=False, **kwargs)

        get_supported_openai_params._kluster = True  # type: ignore[attr-defined]
        public._kluster = True  # type: ignore[attr-defined]
        litellm_utils.get_supported_openai_params = get_supported_openai_params
        litellm.get_supported_openai_params = public


# LiteLLM's own handling of these stays: it renames max_completion_tokens to max_tokens (compat
# translates it back) and turns a pydantic response_format into a json_schema dict.
_LITELLM_MAPPED = frozenset({"max_completion_tokens", "messages", "model", "custom_llm_provider", "api_version"})


def _install_param_passthrough() -> None:
    """Let every OpenAI parameter of a `kluster/` call reach the handler, so compat decides about it.

    For a provider outside its own list, LiteLLM keeps only its generic OpenAI-compatible list
    (`OpenAILikeChatConfig`): `user` and `reasoning_effort` vanish without a word. Its documented
    opt-in for passing a parameter through as is, `allowed_openai_params`, is filled with the
    OpenAI parameters the call set; compat then sends, translates, drops with a warning or refuses
    (or, with `drop_params`, drops what it would refuse). Other providers pass through untouched."""
    import litellm.main as litellm_main
    from litellm.constants import DEFAULT_CHAT_COMPLETION_PARAM_VALUES

    with _patch_lock:
        original = litellm_main.get_optional_params
        if getattr(original, "_kluster", False):
            return

        def get_optional_params(*args: Any, **kwargs: Any) -> dict[str, Any]:
            if kwargs.get("custom_llm_provider") == PROVIDER:
                passed = [
                    name
                    for name, default in DEFAULT_CHAT_COMPLETION_PARAM_VALUES.items()
                    if name not in _LITELLM_MAPPED and kwargs.get(name, default) not in (default, None)
                ]
                kwargs["allowed_openai_params"] = [*(kwargs.get("allowed_openai_params") or []), *passed]
            params: dict[str, Any] = original(*args, **kwargs)
            return params

        get_optional_params._kluster = True  # type: ignore[attr-defined]
        litellm_main.get_optional_params = get_optional_params


def _install_model_lookups() -> None:
    """`litellm.get_valid_models(custom_llm_provider="kluster")` lists the catalog (LiteLLM only asks
    its built-in providers and answers [] for a custom one), and model-info lookups of `kluster/`
    fine-tuned and dedicated names register them first (`register_lazy_entry`)."""
    import litellm.utils as litellm_utils

    with _patch_lock:
        original_valid = litellm_utils.get_valid_models
        if getattr(original_valid, "_kluster", False):
            return

        def get_valid_models(*args: Any, **kwargs: Any) -> list[str]:
            if kwargs.get("custom_llm_provider") == PROVIDER:
                return valid_models()
            return original_valid(*args, **kwargs)

        original_info = litellm_utils._get_model_info_helper

        def _get_model_info_helper(model: str, custom_llm_provider: str | None = None, **kwargs: Any) -> Any:
            if _is_kluster_call(model, custom_llm_provider):
                register_lazy_entry(model, _installed_settings())
            return original_info(model, custom_llm_provider=custom_llm_provider, **kwargs)

        get_valid_models._kluster = True  # type: ignore[attr-defined]
        litellm_utils.get_valid_models = get_valid_models
        litellm.get_valid_models = get_valid_models
        litellm_utils._get_model_info_helper = _get_model_info_helper  # type: ignore[assignment]


_CHAT_CALLS = frozenset({"completion", "acompletion"})


def _install_message_check() -> None:
    """Refuse a `kluster/` chat call whose `messages` is not a list of messages, before LiteLLM reads it.

    LiteLLM cleans `messages` up (`validate_and_fix_openai_messages`) before any provider is called and
    crashes untyped on a string, a dict or an int (an `AttributeError`, reported by `acompletion` as a
    connection error). Its per-call setup (`function_setup`) is the first step that sees the model, so
    it is wrapped once; other providers pass through untouched."""
    import litellm.utils as litellm_utils

    with _patch_lock:
        original = litellm_utils.function_setup
        if getattr(original, "_kluster", False):
            return

        def function_setup(original_function: str, *args: Any, **kwargs: Any) -> Any:
            if original_function in _CHAT_CALLS:
                call_args = args[2:]  # after rules_obj and start_time: LiteLLM's own (model, messages, ...)
                model = call_args[0] if call_args else kwargs.get("model")
                messages = call_args[1] if len(call_args) > 1 else kwargs.get("messages", [])
                if _is_kluster_call(model, kwargs.get("custom_llm_provider")):
                    try:
                        check_message_list(messages)
                    except KlusterInvalidRequestError as exc:
                        raise LiteLLMKlusterInvalidRequestError(exc, model) from None
            return original(original_function, *args, **kwargs)

        function_setup._kluster = True  # type: ignore[attr-defined]
        litellm_utils.function_setup = function_setup


def _installed_settings() -> KlusterSettings | None:
    handler = _installed_handler()
    return handler.settings if handler is not None else None


def ensure_registered() -> KlusterLLM:
    """The installed handler; registers one reading KLUSTER_* at call time if there is none."""
    handler = _installed_handler()
    return handler if handler is not None else register()
