"""Request validation per fidelity mode — what the real endpoint refuses, as documented.

- `strict` (default): the docs' unsupported parameters and message fields get a 400, except what
  the live service was observed accepting: assistant `tool_calls` + `tool` messages, and
  `response_format: {"type": "json_object"}` (JSON mode, in the vendor's executed batch notebooks).
- `docs-strict`: also rejects `messages[].tool_calls`, and allows tools only on Llama models
  (both exactly as the compatibility page says).
- `strict` and `docs-strict` also refuse malformed tools and messages, as every OpenAI-compatible
  server does (`chat_shape`).
- `lenient`: accepts everything a physical limit allows (context size still applies).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from kluster_agents.integrations._api.catalog import ModelInfo
from kluster_agents.integrations._api.compat import DOCS_UNSUPPORTED_MESSAGE_FIELDS, DOCS_UNSUPPORTED_PARAMS
from kluster_agents.integrations._api.tiers import Tier
from kluster_agents.integrations.emulator._model.text import prompt_tokens
from kluster_agents.integrations.emulator._routes.chat_shape import check_chat_shape
from kluster_agents.integrations.emulator._server.http_errors import (
    EmulatorAPIError,
    bad_request,
    not_found,
    unsupported,
)

Mode = Literal["strict", "docs-strict", "lenient"]
MODES: tuple[Mode, ...] = ("strict", "docs-strict", "lenient")
_TOOL_PARAMS = ("tools", "tool_choice", "parallel_tool_calls")
_IMAGE_PART_TYPES = ("image_url", "input_image", "image")


def check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ValueError(f"unknown emulator mode {mode!r}; use one of {', '.join(MODES)}")
    return mode


def validate_chat_request(
    body: Any,
    *,
    mode: Mode,
    tier: Tier,
    lookup: Callable[[str], ModelInfo | None],
    accept_stream_options: bool = False,
) -> ModelInfo:
    """Return the model of a valid request, or raise the `EmulatorAPIError` the service would send.

    `stream_options` is refused as the docs say (nobody has observed the live service either way);
    `accept_stream_options` makes the strict modes accept it, to exercise clients' real-usage path."""
    if not isinstance(body, Mapping):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("`model` is required.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("`messages` must be a non-empty array.", param="messages")
    info = lookup(model)
    if info is None:
        raise not_found("model", model, param="model")
    if info.embedding:
        raise bad_request(
            f"Model {info.id} is an embedding model: use POST /v1/embeddings.",
            param="model",
            code="model_not_supported",
        )
    if mode != "lenient":
        _check_params(body, info, mode, accept_stream_options)
        _check_messages(messages, info, mode)
        check_chat_shape(body, messages)
    _check_named_tool(body)
    _check_context(messages, info, tier)
    if mode != "lenient":
        _check_output(body, info, tier)
    return info


def _check_params(body: Mapping[str, Any], info: ModelInfo, mode: Mode, accept_stream_options: bool) -> None:
    for param in DOCS_UNSUPPORTED_PARAMS:
        value = body.get(param)
        if param == "stream_options" and accept_stream_options:
            continue
        if param == "response_format" and mode == "strict" and _json_mode(value):
            continue  # observed accepted
        if value is not None:
            raise unsupported(param, "kluster.ai does not support this parameter (see the OpenAI compatibility page).")
    tools_ok = info.is_llama if (mode == "docs-strict" and info.kind == "catalog") else info.tools
    for param in _TOOL_PARAMS:
        if body.get(param) is not None and not tools_ok:
            raise unsupported(param, f"model {info.id} does not support tools.")


def _check_named_tool(body: Mapping[str, Any]) -> None:
    """A named `tool_choice` must name a declared tool: OpenAI-compatible servers (vLLM, which
    serves kluster's models) answer 400 otherwise — in every mode, since no model can call it."""
    choice = body.get("tool_choice")
    if not isinstance(choice, Mapping):
        return
    function = choice.get("function")
    wanted = function.get("name") if isinstance(function, Mapping) else None
    declared = body.get("tools")
    tools: list[Any] = declared if isinstance(declared, list) else []
    names = [
        t["function"].get("name") for t in tools if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
    ]
    if wanted not in names:
        raise bad_request(
            f"Tool '{wanted}' has not been passed in `tools` (declared: {', '.join(map(str, names)) or 'none'}).",
            param="tool_choice",
        )


def _json_mode(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("type") == "json_object"


def _check_messages(messages: list[Any], info: ModelInfo, mode: Mode) -> None:
    rejected = [f for f in DOCS_UNSUPPORTED_MESSAGE_FIELDS if f != "tool_calls" or mode == "docs-strict"]
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message:
            raise bad_request(f"messages[{index}] must be an object with a role.", param=f"messages[{index}]")
        for field in rejected:
            if message.get(field):
                raise unsupported(f"messages[{index}].{field}", "this message field is not supported.")
        content = message.get("content")
        if (
            not info.vision
            and isinstance(content, list)
            and any(isinstance(p, Mapping) and p.get("type") in _IMAGE_PART_TYPES for p in content)
        ):
            raise bad_request(
                f"Model {info.id} does not accept image input.",
                param=f"messages[{index}].content",
                code="unsupported_content",
            )


def _check_context(messages: list[Any], info: ModelInfo, tier: Tier) -> None:
    limits = info.limits_for(tier)
    if limits and limits.context and (used := prompt_tokens(messages)) > limits.context:
        raise EmulatorAPIError(
            400,
            f"This model's maximum context length is {limits.context} tokens on the {tier.value} tier; "
            f"the messages use about {used}.",
            param="messages",
            code="context_length_exceeded",
        )


def _check_output(body: Mapping[str, Any], info: ModelInfo, tier: Tier) -> None:
    limits = info.limits_for(tier)
    for param in ("max_completion_tokens", "max_tokens"):
        value = body.get(param)
        if value is None:
            continue
        if not isinstance(value, int) or value < 1:
            raise bad_request(f"`{param}` must be a positive integer.", param=param)
        if limits and limits.max_output and value > limits.max_output:
            raise bad_request(
                f"`{param}`={value} is above the max output of {limits.max_output} tokens for "
                f"{info.id} on the {tier.value} tier.",
                param=param,
                code="max_tokens_exceeded",
            )
