"""Generate a JSON value that conforms to a JSON Schema — the emulator's stand-in for a model
filling in tool arguments or a prompted-JSON answer. Deterministic; reuses words from the
conversation for strings so that answers look related to the question.

Covers what tool and structured-output schemas use: $ref/$defs, anyOf/oneOf/allOf, enum/const,
objects (required and optional properties), arrays (minItems), strings (formats, length),
numbers/integers (bounds), booleans and null.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_MAX_DEPTH = 8
_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
}


def instance_for_schema(schema: Mapping[str, Any], words: Sequence[str] = ()) -> Any:
    """A value valid against `schema`; strings reuse `words` (e.g. from the user's message) in turn."""
    return _Generator(schema, list(words)).value(schema, 0)


class _Generator:
    def __init__(self, root: Mapping[str, Any], words: list[str]) -> None:
        self.root = root
        self.words = words or ["emulated"]
        self.word_index = 0

    def resolve(self, ref: str) -> Mapping[str, Any]:
        node: Any = self.root
        for part in ref.lstrip("#/").split("/"):
            if part:
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, Mapping) else {}
        return node if isinstance(node, Mapping) else {}

    def next_word(self) -> str:
        word = self.words[self.word_index % len(self.words)]
        self.word_index += 1
        return word

    def value(self, schema: Any, depth: int) -> Any:
        if not isinstance(schema, Mapping):
            return "emulated" if schema is not False else None
        if "$ref" in schema:
            return (
                self.value(
                    {**self.resolve(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}, depth + 1
                )
                if depth < _MAX_DEPTH
                else None
            )
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = [o for o in schema[key] if not (isinstance(o, Mapping) and o.get("type") == "null")]
                return self.value((options or schema[key])[0], depth + 1)
        if schema.get("allOf"):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = self.resolve(part["$ref"]) if isinstance(part, Mapping) and "$ref" in part else part
                _merge(merged, part)
            return self.value(merged, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        return getattr(self, f"_{kind}", self._string)(schema, depth)

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        if depth >= _MAX_DEPTH:
            return {}
        props = schema.get("properties") or {}
        result = {name: self.value(sub, depth + 1) for name, sub in props.items()}
        for name in schema.get("required") or ():
            result.setdefault(name, self.next_word())
        return result

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        if depth >= _MAX_DEPTH:
            return []
        items = schema.get("prefixItems") or [schema.get("items") or {}] * max(1, int(schema.get("minItems", 1)))
        count = max(len(items), int(schema.get("minItems", 1)))
        if schema.get("maxItems") is not None:
            count = min(count, int(schema["maxItems"]))
        return [self.value(items[i % len(items)], depth + 1) for i in range(count)]

    def _string(self, schema: Mapping[str, Any], depth: int) -> str:
        text = _FORMATS.get(schema.get("format", ""), "") or self.next_word()
        min_len, max_len = int(schema.get("minLength", 0)), schema.get("maxLength")
        while len(text) < min_len:
            text += " " + self.next_word()
        return text[: int(max_len)] if max_len is not None else text

    def _integer(self, schema: Mapping[str, Any], depth: int) -> int:
        return int(self._bounded(schema, 1))

    def _number(self, schema: Mapping[str, Any], depth: int) -> float:
        return float(self._bounded(schema, 1.5))

    @staticmethod
    def _bounded(schema: Mapping[str, Any], default: float) -> float:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        value = default
        if low is not None:
            value = max(value, low + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0))
        if high is not None:
            value = min(value, high - (1 if "exclusiveMaximum" in schema and "maximum" not in schema else 0))
        return value

    def _boolean(self, schema: Mapping[str, Any], depth: int) -> bool:
        return True

    def _null(self, schema: Mapping[str, Any], depth: int) -> None:
        return None


def _merge(target: dict[str, Any], part: Any) -> None:
    if not isinstance(part, Mapping):
        return
    for key, value in part.items():
        if key == "properties":
            target.setdefault("properties", {}).update(value)
        elif key == "required":
            target["required"] = [*target.get("required", []), *value]
        else:
            target.setdefault(key, value)
