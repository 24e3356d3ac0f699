"""The structure an OpenAI-compatible server requires of a chat request, beyond its parameters.

OpenAI and vLLM (which serves kluster's models) answer 400 to tools that are not function
definitions with a valid name and an object schema, to `tool` messages without a `tool_call_id`,
and to message content that is neither a string nor a list of parts. The messages follow OpenAI's wording so a client's error handling sees what it would see live.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kluster_agents.integrations.emulator._server.http_errors import EmulatorAPIError, bad_request

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SCHEMA_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


def check_chat_shape(body: Mapping[str, Any], messages: list[Any]) -> None:
    """Raise the 400 an OpenAI-compatible server sends for malformed tools or messages."""
    _check_tools(body.get("tools"))
    _check_message_shapes(messages)


def _type_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "null"


def _invalid_type(param: str, expected: str, value: Any) -> EmulatorAPIError:
    return bad_request(
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> EmulatorAPIError:
    return bad_request(f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def _check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _invalid_type("tools", "an array of objects", tools)
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, Mapping):
            raise _invalid_type(where, "an object", tool)
        if tool.get("type") != "function":
            raise bad_request(
                f"Invalid value for '{where}.type': expected 'function'.", param=f"{where}.type", code="invalid_value"
            )
        function = tool.get("function")
        if function is None:
            raise _missing(f"{where}.function")
        if not isinstance(function, Mapping):
            raise _invalid_type(f"{where}.function", "an object", function)
        _check_function(function, f"{where}.function")


def _check_function(function: Mapping[str, Any], where: str) -> None:
    name = function.get("name")
    if name is None:
        raise _missing(f"{where}.name")
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise bad_request(
            f"Invalid '{where}.name': string does not match pattern. Expected a string of 1-64 characters "
            "that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            param=f"{where}.name",
            code="invalid_value",
        )
    parameters = function.get("parameters")
    if parameters is None:
        return
    if not isinstance(parameters, Mapping):
        raise _invalid_type(f"{where}.parameters", "an object", parameters)
    kind = parameters.get("type", "object")
    if kind != "object":
        valid = "a JSON Schema type" if kind not in _SCHEMA_TYPES else "'object' at the top level"
        raise bad_request(
            f"Invalid schema for function '{name}': schema type {kind!r} is not valid; expected {valid}.",
            param=f"{where}.parameters",
            code="invalid_function_parameters",
        )


def _check_message_shapes(messages: list[Any]) -> None:
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            continue  # the role check reports it
        where = f"messages[{index}]"
        content = message.get("content")
        if not (isinstance(content, str | list) or (content is None and message.get("role") == "assistant")):
            raise _invalid_type(f"{where}.content", "one of a string or array of objects", content)
        if isinstance(content, list):
            for part_index, part in enumerate(content):
                if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
                    raise _invalid_type(f"{where}.content[{part_index}]", "an object with a `type`", part)
        if message.get("role") == "tool":
            call_id = message.get("tool_call_id")
            if call_id is None:  # an unknown id is not refused: our client's `tool_messages` compat sends them
                raise _missing(f"{where}.tool_call_id")
