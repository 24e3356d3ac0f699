"""What kluster.ai's chat endpoint accepts, as one declarative table, and the function that
turns any OpenAI-style request into one it accepts — or refuses it before the network.

Source: kluster-docs "Compatibility with OpenAI client libraries" (unsupported/deprecated
parameters), "Supported AI Models" (tools, image input, max output per tier), and the docs
README's live observations: assistant `tool_calls` + `tool` messages are accepted, and so is
`response_format: {"type": "json_object"}` (JSON mode, in the vendor's executed batch notebooks),
although the compatibility page lists `response_format` as unsupported. `json_schema` has no such
evidence and stays refused.
Every adapter calls `prepare_chat_request`; no adapter keeps its own list.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from kluster_agents.integrations._api.catalog import ModelInfo, get_model, supports_tools
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError, KlusterUnsupportedError

if TYPE_CHECKING:
    from kluster_agents.integrations._api.settings import KlusterSettings

Action = Literal["drop", "drop-or-refuse", "translate", "needs-tools"]
JSON_MODE = "json_object"  # the one response_format type observed accepted (besides the no-op "text")


class KlusterCompatWarning(UserWarning):
    """A parameter was dropped or translated so that kluster.ai accepts the request."""


def _fmt_type(value: Any) -> Any:
    return value.get("type") if isinstance(value, Mapping) else value


def _function_call_to_tool_choice(value: Any) -> Any:
    return value if isinstance(value, str) else {"type": "function", "function": {"name": value.get("name")}}


@dataclass(frozen=True)
class Rule:
    """How one request parameter is handled.

    `drop`: removed with a one-time warning. `drop-or-refuse`: sent as is when `keep(value)`,
    removed silently when `harmless(value)`, refused otherwise. `translate`: moved to `target` (through `convert`)
    unless the target is already set. `needs-tools`: kept on tool-capable models only.
    `why`/`fix` may use `{value}`; they become the refusal message.
    """

    param: str
    action: Action
    why: str
    fix: str = ""
    target: str | None = None
    harmless: Callable[[Any], bool] | None = None
    convert: Callable[[Any], Any] | None = None
    keep: Callable[[Any], bool] | None = None


PARAM_RULES: dict[str, Rule] = {
    r.param: r
    for r in (
        Rule("store", "drop", "kluster.ai does not store completions"),
        Rule("service_tier", "drop", "kluster.ai has no per-request service tiers"),
        Rule("reasoning_effort", "drop", "kluster.ai documents no reasoning_effort; reasoning models always think"),
        Rule("stream_options", "drop", "stream_options is not supported; streams may carry no usage"),
        Rule(
            "modalities",
            "drop-or-refuse",
            "only text output exists (got {value!r})",
            "remove `modalities` (audio output is not offered)",
            harmless=lambda v: set(v or []) <= {"text"},
        ),
        Rule(
            "n",
            "drop-or-refuse",
            "n={value!r} asks for several choices; only one choice per request",
            "send n separate requests (or a batch) instead of n>1",
            harmless=lambda v: isinstance(v, int) and v == 1,
        ),
        Rule(
            "response_format",
            "drop-or-refuse",
            "only JSON mode ({{'type': 'json_object'}}) was observed accepted; got type {value!r}",
            "use response_format={'type': 'json_object'} or the adapter's structured output "
            "(tool calling or prompted JSON) instead",
            harmless=lambda v: _fmt_type(v) == "text",
            keep=lambda v: _fmt_type(v) == JSON_MODE,
        ),
        Rule("max_tokens", "translate", "max_tokens is deprecated", target="max_completion_tokens"),
        Rule(
            "functions",
            "translate",
            "functions is deprecated",
            target="tools",
            convert=lambda fns: [{"type": "function", "function": f} for f in fns or []],
        ),
        Rule(
            "function_call",
            "translate",
            "function_call is deprecated",
            target="tool_choice",
            convert=_function_call_to_tool_choice,
        ),
        Rule(
            "tools",
            "needs-tools",
            "tools are supported only on some models",
            "pick a model with Tools in `kluster-agents models` (e.g. klusterai/Meta-Llama-3.3-70B-Instruct-Turbo) "
            "or use prompted tools",
        ),
        Rule("tool_choice", "needs-tools", "tool_choice is supported only with tools"),
        Rule("parallel_tool_calls", "needs-tools", "parallel_tool_calls is supported only with tools"),
    )
}

# Message fields the docs list as unsupported; `tool_calls` is handled by the tool-message mode.
MESSAGE_DROP_FIELDS = ("name", "refusal", "audio", "annotations")
# Parameters the docs name as unsupported (the emulator's strict mode answers 400 for these).
DOCS_UNSUPPORTED_PARAMS = ("store", "n", "modalities", "response_format", "service_tier", "stream_options")
DOCS_UNSUPPORTED_MESSAGE_FIELDS = ("name", "refusal", "audio", "tool_calls")

_warned: set[str] = set()
_warned_lock = threading.Lock()
logger = logging.getLogger(__name__)

# Frameworks add these on their own (PydanticAI's run_stream, LangChain's stream_usage): the user
# did not ask for them, so dropping them is a debug log, not a warning.
FRAMEWORK_ADDED = frozenset({"stream_options"})


def _resolve(settings: KlusterSettings | None) -> KlusterSettings:
    """`resolve_settings`, imported on first use: the emulator reads this module's tables and helpers
    and starts faster without pydantic-settings."""
    from kluster_agents.integrations._api.settings import resolve_settings

    return resolve_settings(settings)


def _warn_once(key: str, message: str, settings: KlusterSettings) -> None:
    logger.debug(message)
    if not settings.warn_on_drop or key in FRAMEWORK_ADDED:
        return
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, KlusterCompatWarning, stacklevel=4)


def _refuse(param: str, model: ModelInfo, why: str, fix: str) -> KlusterUnsupportedError:
    logger.info("kluster-agents: refused `%s` for %s: %s", param, model.id, why)
    return KlusterUnsupportedError(
        f"`{param}` cannot be sent to kluster.ai model {model.id!r}: {why}. Fix: {fix}.",
        parameter=param,
        model=model.id,
    )


def _is_image_part(part: Any) -> bool:
    return isinstance(part, Mapping) and part.get("type") in ("image_url", "input_image", "image")


def _check_content(content: Any, model: ModelInfo, index: int) -> None:
    if isinstance(content, list) and not model.vision and any(_is_image_part(p) for p in content):
        raise _refuse(
            f"messages[{index}].content",
            model,
            "this model has no image input",
            "use a vision model (e.g. google/gemma-3-27b-it, Qwen/Qwen2.5-VL-7B-Instruct, meta-llama/Llama-4-Scout-17B-16E-Instruct)",
        )


def _tool_call_text(call: Mapping[str, Any]) -> str:
    fn = call.get("function") or {}
    return f"[called tool `{fn.get('name')}` with arguments {fn.get('arguments') or '{}'} (call id {call.get('id')})]"


def _rewrite_tool_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn assistant tool calls and tool results into plain assistant/user text (docs-strict endpoints)."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role")
        if role == "assistant" and msg.get("tool_calls"):
            for call in msg["tool_calls"]:
                names[str(call.get("id"))] = (call.get("function") or {}).get("name", "tool")
            text = "\n".join(filter(None, [content_text(msg.get("content")), *map(_tool_call_text, msg["tool_calls"])]))
            out.append({"role": "assistant", "content": text})
        elif role == "tool":
            call_id = str(msg.get("tool_call_id"))
            out.append(
                {
                    "role": "user",
                    "content": f"[result of tool `{names.get(call_id, 'tool')}` (call id {call_id})]: "
                    f"{content_text(msg.get('content'))}",
                }
            )
        else:
            out.append(msg)
    return out


def content_text(content: Any) -> str:
    """The text of a message `content`: a string, a list of content parts (their text joined), or None."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return json.dumps(content)


_MESSAGES_SHAPE = "`messages` must be a non-empty list, e.g. [{'role': 'user', 'content': 'Hello'}]."


def _not_a_message(msg: Any, index: int) -> KlusterInvalidRequestError:
    return KlusterInvalidRequestError(
        f"messages[{index}] must be a dict with a 'role' (system/user/assistant/tool), got {msg!r:.80}",
        parameter=f"messages[{index}]",
    )


def check_message_list(messages: Any) -> None:
    """Refuse `messages` that is not a list (or tuple) of message dicts or message objects. Frameworks
    iterate `messages` before any provider sees it and crash untyped on a string or an int."""
    if not isinstance(messages, list | tuple):
        raise KlusterInvalidRequestError(
            f"{_MESSAGES_SHAPE} Got {type(messages).__name__} {messages!r:.40}.", parameter="messages"
        )
    for index, msg in enumerate(messages):
        if not isinstance(msg, Mapping) and not hasattr(msg, "model_dump"):
            raise _not_a_message(msg, index)


def _message_mapping(msg: Any, index: int) -> Mapping[str, Any]:
    if hasattr(msg, "model_dump"):
        msg = msg.model_dump(exclude_none=True)
    if not isinstance(msg, Mapping) or "role" not in msg:
        raise _not_a_message(msg, index)
    return msg


_PLAIN_KEYS = frozenset({"role", "content"})
_PLAIN_ROLES = frozenset({"system", "user", "assistant", "developer"})


def _clean_message(msg: Any, index: int, model: ModelInfo, settings: KlusterSettings) -> dict[str, Any]:
    if type(msg) is dict and msg.keys() <= _PLAIN_KEYS and msg.get("role") in _PLAIN_ROLES:
        content = msg.get("content")
        if type(content) is str and content.isascii():  # plain text: every rule below leaves it as is
            return dict(msg)
    clean = dict(_message_mapping(msg, index))
    role = clean["role"]
    if role not in _KNOWN_ROLES:
        raise KlusterInvalidRequestError(
            f"messages[{index}].role is {role!r}; use one of 'system', 'user', 'assistant' or 'tool'.",
            parameter=f"messages[{index}].role",
        )
    if role in ("system", "user", "tool", "developer") and clean.get("content") is None:
        raise KlusterInvalidRequestError(
            f"messages[{index}] ({role}) has no content (content=None): give it the text to send, e.g. "
            f"{{'role': '{role}', 'content': 'Hello'}}, or leave the message out.",
            parameter=f"messages[{index}].content",
        )
    _check_encodable(clean.get("content"), f"messages[{index}].content")
    for field in MESSAGE_DROP_FIELDS:
        if field in clean:
            value = clean.pop(field)
            # frameworks put `name` on tool results routinely; it is not worth a warning there
            if value is not None and not (field == "name" and clean["role"] == "tool"):
                _warn_once(
                    f"messages[].{field}", f"kluster-agents: dropped unsupported message field `{field}`.", settings
                )
    if clean.get("function_call") is not None and not clean.get("tool_calls"):
        fc = clean["function_call"]
        clean["tool_calls"] = [{"id": "call_0", "type": "function", "function": dict(fc)}]
    clean.pop("function_call", None)
    if clean.get("tool_calls") == [] or ("tool_calls" in clean and clean["tool_calls"] is None):
        clean.pop("tool_calls")
    if clean["role"] == "assistant" and clean.get("tool_calls") and clean.get("content") is None:
        clean["content"] = ""
    _check_content(clean.get("content"), model, index)
    return clean


_KNOWN_ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})

# Sampling ranges of the OpenAI-compatible API (kluster's compatibility page: same parameters).
_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


def _check_encodable(value: Any, where: str) -> None:
    """Refuse text that cannot be sent as UTF-8 JSON (a lone surrogate, e.g. from a bad decode)."""
    texts: list[str] = []
    if isinstance(value, str):
        if value.isascii():  # the common case, checked without encoding a copy
            return
        texts = [value]
    elif isinstance(value, list):
        texts = [str(p["text"]) for p in value if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise KlusterInvalidRequestError(
                f"{where} contains a lone surrogate (U+{ord(text[exc.start]):04X} at position {exc.start}), which "
                "cannot be sent as UTF-8: read the source text with the right encoding, or clean it with "
                "text.encode('utf-8', 'replace').decode().",
                parameter=where,
            ) from None


_NUMBERS = (int, float)


def _check_ranges(request: Mapping[str, Any], names: Iterable[str] = _RANGES) -> None:
    """Refuse a sampling parameter out of its range (`names`: those to check, default all)."""
    for name in names:
        value = request.get(name)
        if value is None:
            continue
        low, high = _RANGES[name]
        if isinstance(value, bool) or not isinstance(value, _NUMBERS) or not low <= value <= high:
            raise KlusterInvalidRequestError(
                f"{name}={value!r} is out of range: use a number from {low:g} to {high:g}.", parameter=name
            )


def _apply_param_rules(request: dict[str, Any], info: ModelInfo, settings: KlusterSettings) -> None:
    """Apply the drop / drop-or-refuse / translate rows of `PARAM_RULES` (tools are separate)."""
    if PARAM_RULES.keys().isdisjoint(request):  # the usual request: nothing to drop or translate
        return
    for rule in PARAM_RULES.values():
        if rule.param not in request or rule.action == "needs-tools":
            continue
        value = request.pop(rule.param)
        if _kept(rule, value):
            request[rule.param] = value
        elif rule.action == "drop":
            _warn_once(rule.param, f"kluster-agents: dropped `{rule.param}` ({rule.why}).", settings)
        elif rule.action == "drop-or-refuse":
            _check_harmless(rule, value, info)
        elif rule.action == "translate" and rule.target is not None and rule.target not in request:
            logger.debug("kluster-agents: translated `%s` to `%s`.", rule.param, rule.target)
            request[rule.target] = rule.convert(value) if rule.convert else value


def _kept(rule: Rule, value: Any) -> bool:
    """Sent as is: the one test `check_chat_request` and `prepare_chat_request` share, so they never disagree."""
    return rule.keep is not None and rule.keep(value)


def _check_harmless(rule: Rule, value: Any, info: ModelInfo) -> None:
    if not (rule.harmless and rule.harmless(value)):
        shown = _fmt_type(value) if rule.param == "response_format" else value
        raise _refuse(rule.param, info, rule.why.format(value=shown), rule.fix)


def _model_and_messages(params: Mapping[str, Any], model: str | None) -> tuple[ModelInfo, Any]:
    model_name = model or params.get("model")
    if not model_name:
        raise KlusterInvalidRequestError(
            "No model given: pass model='klusterai/Meta-Llama-3.3-70B-Instruct-Turbo' "
            "or another name from `kluster-agents models`.",
            parameter="model",
        )
    info = get_model(model_name)
    messages = params.get("messages")
    if not messages or not isinstance(messages, (list, tuple)):
        raise KlusterInvalidRequestError(_MESSAGES_SHAPE, parameter="messages")
    return info, messages


def check_chat_request(
    params: Mapping[str, Any],
    *,
    model: str | None = None,
    settings: KlusterSettings | None = None,
) -> None:
    """Raise the error `prepare_chat_request` would raise for `params`, without building a request.

    A pure check (no copy, no warnings, nothing transformed) for frameworks that need an early
    error before a request exists, e.g. LangChain's batch mode validating every input before
    anything is submitted. Compat itself still runs once, in the client or the batch writer.
    """
    settings = _resolve(settings)
    params = {k: v for k, v in params.items() if v is not None}
    info, messages = _model_and_messages(params, model)
    for index, msg in enumerate(messages):
        _check_content(_message_mapping(msg, index).get("content"), info, index)
    for rule in PARAM_RULES.values():
        if rule.action == "drop-or-refuse" and rule.param in params and not _kept(rule, params[rule.param]):
            _check_harmless(rule, params[rule.param], info)
    tools = params.get("tools") or (params.get("functions") and ["translated"])
    _check_tools(bool(tools), params, info, settings)
    requested = params.get("max_completion_tokens", params.get("max_tokens"))
    if requested is not None:
        _checked_output_limit(requested, info, settings)


def prepare_chat_request(
    params: Mapping[str, Any],
    *,
    model: str | None = None,
    settings: KlusterSettings | None = None,
) -> dict[str, Any]:
    """Return a copy of an OpenAI-style chat request that kluster.ai accepts for `model`.

    Drops (warning once per parameter), translates (`max_tokens` -> `max_completion_tokens`,
    `functions` -> `tools`) or raises `KlusterUnsupportedError` naming the parameter, the
    model and the fix. Never touches the network.
    """
    settings = _resolve(settings)
    request = {k: v for k, v in params.items() if v is not None}
    info, messages = _model_and_messages(request, model)
    request["model"] = info.id  # aliases resolve to the API name
    cleaned = [_clean_message(m, i, info, settings) for i, m in enumerate(messages)]
    request["messages"] = _rewrite_tool_messages(cleaned) if settings.tool_messages == "rewrite" else cleaned

    _check_ranges(request)
    _apply_param_rules(request, info, settings)
    _apply_tool_rules(request, info, settings)
    _apply_output_limit(request, info, settings)
    return request


_Plan = tuple[tuple[str, ...], int | None, bool]  # (ranges to check, max output, rename max_tokens)


class RequestShapes:
    """`prepare_chat_request` for many requests (a batch, or one client's real-time calls), with its
    per-model decisions cached per (model, parameter names): a request of a plain shape (a catalog
    name, plain text messages, no parameter compat drops or refuses; `max_tokens` alone is renamed to
    `max_completion_tokens`) gets only the per-value checks (ranges, output limit); any other request
    takes the full pass. The result is what `prepare_chat_request` returns, except that a request compat
    leaves unchanged comes back as the same dict (the caller's copy)."""

    MAX_SHAPES = 256  # distinct shapes kept; a client that sees more starts over (never unbounded)

    def __init__(self, settings: KlusterSettings | None = None) -> None:
        self.settings = _resolve(settings)
        self._plans: dict[tuple[Any, ...], _Plan | None] = {}
        self.notes: dict[tuple[Any, ...], Any] = {}
        """Callers' own per-shape notes (keyed as `prepare_keyed` says; dropped with the plans)."""

    def _plan(self, model: Any, keys: tuple[Any, ...]) -> _Plan | None:
        """The plan of a plain shape, None when its requests need the full pass."""
        if type(model) is not str or "messages" not in keys:
            return None
        ruled = _RULED_PARAMS.intersection(keys)
        rename = ruled == {"max_tokens"} and "max_completion_tokens" not in keys
        if ruled and not rename:
            return None
        info = get_model(model)
        if info.id != model:  # an alias or a spelling the full pass rewrites
            return None
        limits = info.limits_for(self.settings.tier)
        return (tuple(name for name in _RANGES if name in keys), limits.max_output if limits else None, rename)

    def prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        """`prepare_chat_request(body, settings=self.settings)`, fast for plain shapes."""
        return self.prepare_keyed(body)[0]

    def prepare_keyed(self, body: dict[str, Any]) -> tuple[dict[str, Any], tuple[Any, ...] | None]:
        """`prepare(body)` and, when the fast path answered, the request's shape key: what compat changed
        then follows from the shape alone (nothing, or the `max_tokens` rename), so a caller may keep
        what it derives from the change (the compat header) in `notes` under that key."""
        if type(body) is not dict:
            return _full_pass(body, settings=self.settings), None
        model = body.get("model")
        key = (model, self.settings.tier, *body)  # the tier picks the output limit
        try:
            plan = self._plans[key]
        except KeyError:
            if len(self._plans) >= self.MAX_SHAPES:
                self._plans.clear()
                self.notes.clear()
            plan = self._plans[key] = self._plan(model, key[2:])
        except TypeError:  # an unhashable model value: the full pass names the problem
            plan = None
        if plan is None or not _plain_values(body):
            return _full_pass(body, settings=self.settings), None
        ranges, max_output, rename = plan
        if ranges:
            _check_ranges(body, ranges)
        if rename:
            logger.debug("kluster-agents: translated `max_tokens` to `max_completion_tokens`.")
            body = dict(body)  # never the caller's dict; the new name goes last, as the full pass puts it
            body["max_completion_tokens"] = body.pop("max_tokens")
        if max_output:
            requested = body.get("max_completion_tokens")
            if requested is not None and not (type(requested) is int and 1 <= requested <= max_output):
                return _full_pass(body, settings=self.settings), None  # refused or clamped there
        return body, key


_full_pass = prepare_chat_request  # the fallback of `RequestShapes` (one pass, however it is patched)
_RULED_PARAMS = PARAM_RULES.keys() | {"tools", "tool_choice", "parallel_tool_calls"}


def _plain_values(body: dict[str, Any]) -> bool:
    """No None value, and plain text messages (which every compat rule leaves as they are; non-ASCII
    text only when it can be sent as UTF-8, else the full pass names the problem)."""
    for value in body.values():  # by identity: `in` would also call `==`, which an array answers ambiguously
        if value is None:
            return False
    messages = body["messages"]
    if type(messages) is not list or not messages:
        return False
    for msg in messages:
        if type(msg) is not dict or not msg.keys() <= _PLAIN_KEYS or msg.get("role") not in _PLAIN_ROLES:
            return False
        content = msg.get("content")
        if type(content) is not str or not (content.isascii() or _utf8_encodable(content)):
            return False
    return True


def _utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_tools(has_tools: bool, request: Mapping[str, Any], info: ModelInfo, settings: KlusterSettings) -> None:
    if not has_tools:
        for name in ("tool_choice", "parallel_tool_calls"):
            if name in request and request[name] not in ("none", "auto", False, True):
                raise _refuse(name, info, f"`{name}` was given without any tools", "pass tools, or remove it")
        return
    if not supports_tools(info, settings):
        rule = PARAM_RULES["tools"]
        raise _refuse("tools", info, f"{rule.why} and {info.id} has none", rule.fix)


_TOOL_PARAMS = frozenset({"tools", "tool_choice", "parallel_tool_calls"})


def _apply_tool_rules(request: dict[str, Any], info: ModelInfo, settings: KlusterSettings) -> None:
    if _TOOL_PARAMS.isdisjoint(request):  # no tool parameter: nothing to check or remove
        return
    has_tools = bool(request.get("tools"))
    _check_tools(has_tools, request, info, settings)
    if not has_tools:
        for name in ("tools", "tool_choice", "parallel_tool_calls"):
            request.pop(name, None)


def _checked_output_limit(requested: Any, info: ModelInfo, settings: KlusterSettings) -> int | None:
    """The tier's max output when `requested` is above it and the setting is clamp; raises when refused."""
    limits = info.limits_for(settings.tier)
    if limits is None or not limits.max_output:
        return None
    if not isinstance(requested, int) or requested < 1:
        raise KlusterInvalidRequestError(
            f"max_completion_tokens must be a positive integer, got {requested!r}.", parameter="max_completion_tokens"
        )
    if requested <= limits.max_output:
        return None
    if settings.over_limit != "clamp":
        raise _refuse(
            "max_completion_tokens",
            info,
            f"{requested} is above the {settings.tier.value} tier's max output of {limits.max_output} tokens",
            f"ask for at most {limits.max_output}, or set KLUSTER_OVER_LIMIT=clamp",
        )
    return limits.max_output


def _apply_output_limit(request: dict[str, Any], info: ModelInfo, settings: KlusterSettings) -> None:
    requested = request.get("max_completion_tokens")
    if requested is None:
        return
    clamped = _checked_output_limit(requested, info, settings)
    if clamped is not None:
        request["max_completion_tokens"] = clamped
        _warn_once(
            f"clamp:{info.id}",
            f"kluster-agents: clamped max_completion_tokens to {clamped} ({info.id}, {settings.tier.value} tier).",
            settings,
        )
