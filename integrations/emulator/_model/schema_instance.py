"""Generate a JSON value that conforms to a JSON Schema — the emulator's stand-in for a model
filling in tool arguments or a prompted-JSON answer. Deterministic; it reuses values from the
conversation where they fit (numbers for numeric fields, capitalised names for name-like fields,
quoted strings, an arithmetic expression for an `expression` field), so that answers look related
to the question, and otherwise makes up the simplest valid value.

Covers what tool and structured-output schemas use: $ref/$defs, anyOf/oneOf/allOf, enum/const,
objects (required, optional and nested properties), arrays (min/maxItems, uniqueItems,
prefixItems), strings (pattern, formats, min/maxLength), numbers and integers (inclusive and
exclusive bounds, multipleOf), booleans and null. Every candidate is checked with `jsonschema`
before it is returned, falling back to the next candidate when it does not validate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kluster_agents.integrations.emulator._model.regex_sample import sample_for_pattern

_MAX_DEPTH = 8
_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "iri": "https://example.com",
    "uri-reference": "https://example.com",
    "hostname": "example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "duration": "P1D",
}
_NAME_FIELDS = re.compile(
    r"(city|town|location|place|country|region|name|person|author|company|vendor|customer|user|team|topic|"
    r"product|destination|origin|capital|state)",
    re.I,
)
_TEXT_FIELDS = re.compile(
    r"^(text|content|response|output|answer|claim|statement|document\w*|body|message|prompt|question|query)$", re.I
)
_EXPRESSION_FIELDS = re.compile(r"(expression|expr|formula|equation|calculation|math)", re.I)


@dataclass
class ConversationValues:
    """Values a model would lift from the conversation, consumed in order as fields are filled."""

    words: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    numbers: list[float] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    expression: str | None = None
    listing: str = ""  # the user's text, to find names listed together ("Paris and Oslo")


def instance_for_schema(
    schema: Mapping[str, Any], words: Sequence[str] = (), values: ConversationValues | None = None
) -> Any:
    """A value valid against `schema`; strings reuse `words` (e.g. from the user's message) in turn,
    and `values` (numbers, names, quoted strings, an expression) where a field fits them."""
    values = values or ConversationValues(words=list(words))
    if words and not values.words:
        values.words = list(words)
    return _Generator(schema, values).value(schema, 0, "", 0)


class _Generator:
    def __init__(self, root: Mapping[str, Any], values: ConversationValues) -> None:
        self.root = root
        self.validator = _validator(root)
        self.values = values
        self.words = values.words or ["emulated"]
        self.word_index = 0
        self.name_index = 0
        self.number_index = 0
        self.quoted_index = 0

    # -- helpers -------------------------------------------------------------------------------
    def resolve(self, ref: str) -> Mapping[str, Any]:
        node: Any = self.root
        for part in ref.lstrip("#/").split("/"):
            if part:
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, Mapping) else {}
        return node if isinstance(node, Mapping) else {}

    def valid(self, schema: Mapping[str, Any], value: Any) -> bool:
        """`value` is valid against `schema`, a sub-schema of the root (`$ref`s resolve against the root)."""
        if self.validator is None:
            return True
        try:
            return bool(self.validator.evolve(schema=schema).is_valid(value))
        except Exception:  # unresolvable $ref and the like: keep the generated value
            return True

    def next_word(self) -> str:
        word = self.words[self.word_index % len(self.words)]
        self.word_index += 1
        return word

    # -- dispatch ------------------------------------------------------------------------------
    def value(self, schema: Any, depth: int, name: str, variant: int) -> Any:
        if schema is True or schema is None:
            schema = {}
        if not isinstance(schema, Mapping):
            return None
        if "$ref" in schema:
            if depth >= _MAX_DEPTH:
                return None
            merged = {**self.resolve(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.value(merged, depth + 1, name, variant)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            options = list(schema["enum"])
            return options[variant % len(options)]
        if schema.get("allOf"):
            merged_all: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self.resolve(part["$ref"]) if isinstance(part, Mapping) and "$ref" in part else part
                _merge(merged_all, part)
            return self.value(merged_all, depth + 1, name, variant)
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                return self._choice(schema, key, depth, name, variant)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = _implied_type(schema)
        method = getattr(self, f"_{kind}", self._string)
        return method(schema, depth, name, variant)

    def _choice(self, schema: Mapping[str, Any], key: str, depth: int, name: str, variant: int) -> Any:
        base = {k: v for k, v in schema.items() if k != key}
        options = list(schema[key])
        ordered = [o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")]
        ordered += [o for o in options if o not in ordered]
        first: Any = None
        for index, option in enumerate(ordered):
            merged = {**base, **option} if isinstance(option, Mapping) else option
            candidate = self.value(merged, depth + 1, name, variant)
            if index == 0:
                first = candidate
            if self.valid(schema, candidate):
                return candidate
        return first

    # -- types ---------------------------------------------------------------------------------
    def _object(self, schema: Mapping[str, Any], depth: int, name: str, variant: int) -> dict[str, Any]:
        if depth >= _MAX_DEPTH:
            return {}
        props = schema.get("properties") or {}
        result = {key: self.value(sub, depth + 1, key, variant) for key, sub in props.items()}
        extra = schema.get("additionalProperties")
        for key in schema.get("required") or ():
            if key not in result:
                sub = extra if isinstance(extra, Mapping) else {"type": "string"}
                result[key] = self.value(sub, depth + 1, key, variant)
        minimum = int(schema.get("minProperties", 0))
        index = 0
        while len(result) < minimum and extra is not False:
            key = f"key{index}"
            index += 1
            if key not in result:
                result[key] = self.value(extra if isinstance(extra, Mapping) else {}, depth + 1, key, variant)
        return result

    def _array(self, schema: Mapping[str, Any], depth: int, name: str, variant: int) -> list[Any]:
        if depth >= _MAX_DEPTH:
            return []
        prefix = list(schema.get("prefixItems") or [])
        items = schema.get("items")
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        min_items = int(schema.get("minItems", 0))
        max_items = schema.get("maxItems")
        count = max(len(prefix), min_items, 1)
        if max_items is not None:
            count = min(count, int(max_items))
        if items is False:
            count = min(count, len(prefix))
        unique = bool(schema.get("uniqueItems"))
        result: list[Any] = []
        attempt = 0
        while len(result) < count and attempt < count * 8 + 8:
            index = len(result)
            sub = prefix[index] if index < len(prefix) else (items if isinstance(items, Mapping) else {})
            candidate = self.value(sub, depth + 1, name, variant + attempt)
            attempt += 1
            if unique and any(_json_equal(candidate, other) for other in result):
                continue
            result.append(candidate)
        return result

    def _string(self, schema: Mapping[str, Any], depth: int, name: str, variant: int) -> str:
        min_len = int(schema.get("minLength", 0))
        max_len = schema.get("maxLength")
        pattern = schema.get("pattern")
        for candidate in self._string_candidates(schema, name, variant):
            text = _fit_length(candidate, min_len, max_len, self.next_word)
            if text is not None and self.valid(schema, text):
                return text
        if isinstance(pattern, str):
            for sample in _pattern_samples(pattern, min_len, max_len):
                if self.valid(schema, sample):
                    return sample
        return _fit_length("emulated", min_len, max_len, self.next_word) or "x" * max(min_len, 1)

    def _string_candidates(self, schema: Mapping[str, Any], name: str, variant: int) -> Iterator[str]:
        values = self.values
        fmt = schema.get("format")
        if fmt in ("date", "date-time") and values.dates:
            day = values.dates[variant % len(values.dates)]
            yield day if fmt == "date" else f"{day}T00:00:00Z"
        if values.dates and fmt is None and re.search(r"date|day|deadline|due", name, re.I):
            yield values.dates[variant % len(values.dates)]
        if isinstance(fmt, str) and fmt in _FORMATS:
            yield _FORMATS[fmt]
        if values.expression and _EXPRESSION_FIELDS.search(name):
            yield values.expression
        if values.quoted and not _TEXT_FIELDS.search(name):
            yield values.quoted[(self.quoted_index + variant) % len(values.quoted)]
            self.quoted_index += 1
        if values.names and _NAME_FIELDS.search(name):
            yield values.names[(self.name_index + variant) % len(values.names)]
            self.name_index += 1
        if values.listing and _TEXT_FIELDS.search(name):
            yield _text_for(name, values.listing)
        if isinstance(schema.get("pattern"), str):
            candidates = [*values.names, *values.quoted, *values.words, *(_number_text(n) for n in values.numbers)]
            yield from candidates[variant:] + candidates[:variant]
            return
        word = self.words[(self.word_index + variant) % len(self.words)]
        self.word_index += 1
        yield word

    def _integer(self, schema: Mapping[str, Any], depth: int, name: str, variant: int) -> int:
        return int(self._numeric(schema, variant, integer=True))

    def _number(self, schema: Mapping[str, Any], depth: int, name: str, variant: int) -> float | int:
        return self._numeric(schema, variant, integer=False)

    def _numeric(self, schema: Mapping[str, Any], variant: int, *, integer: bool) -> float | int:
        numbers = self.values.numbers
        for offset in range(len(numbers)):
            value = numbers[(self.number_index + offset) % len(numbers)]
            if integer and value != int(value):
                continue
            candidate: float | int = int(value) if integer else value
            if self.valid(schema, candidate):
                self.number_index += offset + 1
                return candidate
        return _bounded(schema, variant, integer=integer)

    def _boolean(self, schema: Mapping[str, Any], depth: int, name: str, variant: int) -> bool:
        return variant % 2 == 0

    def _null(self, schema: Mapping[str, Any], depth: int, name: str, variant: int) -> None:
        return None


def _text_for(field_name: str, text: str) -> str:
    """The part of the user's text a model puts in a text field: the question for prompt-like
    fields, the statements for response-like ones (the whole text when it has only one kind)."""
    sentences = [p.strip() for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p.strip()]
    questions = [p for p in sentences if p.endswith("?")]
    statements = [p for p in sentences if not p.endswith("?")]
    wanted = questions if re.fullmatch(r"prompt|question|query", field_name, re.I) else statements
    return " ".join(wanted) if wanted and len(wanted) < len(sentences) else text


def _implied_type(schema: Mapping[str, Any]) -> str:
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema or "minItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return "string"


def _bounds(schema: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    """(low, low is exclusive, high, high is exclusive), for draft 4 booleans and draft 6+ numbers."""
    low, high = schema.get("minimum"), schema.get("maximum")
    low_x = high_x = False
    ex_min, ex_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_min is True:
        low_x = low is not None
    elif isinstance(ex_min, (int, float)) and not isinstance(ex_min, bool) and (low is None or ex_min >= low):
        low, low_x = ex_min, True
    if ex_max is True:
        high_x = high is not None
    elif isinstance(ex_max, (int, float)) and not isinstance(ex_max, bool) and (high is None or ex_max <= high):
        high, high_x = ex_max, True
    return low, low_x, high, high_x


def _bounded(schema: Mapping[str, Any], variant: int, *, integer: bool) -> float | int:
    """The simplest number inside the bounds that is a multiple of `multipleOf` (and an integer when asked)."""
    low, low_x, high, high_x = _bounds(schema)
    step = schema.get("multipleOf")
    if integer:
        step = _lcm_step(step, 1)
    if step:
        start = low if low is not None else (high - step * 4 if high is not None else 0)
        k = math.ceil(start / step - 1e-9)
        for i in range(k, k + 10_000):
            value = _clean(i * step + variant * step)
            if low is not None and (value < low or (low_x and value <= low)):
                continue
            if high is not None and (value > high or (high_x and value >= high)):
                value = _clean(i * step)
                if high is not None and (value > high or (high_x and value >= high)):
                    break
            return int(value) if integer else value
        return int(low or 0) if integer else low or 0
    default = 1.5 + variant
    if low is not None and high is not None:
        value = (low + high) / 2 if (low_x or high_x or not low <= default <= high) else default
    elif low is not None:
        value = max(default, low + 1 if low_x else low)
    elif high is not None:
        value = min(default, high - 1 if high_x else high)
    else:
        value = default
    return _clean(value)


def _lcm_step(step: Any, other: int) -> float | int:
    if not step:
        return other
    if float(step).is_integer():
        return math.lcm(int(step), other)
    multiplier = math.ceil(1 / step)
    while not float(_clean(step * multiplier)).is_integer():
        multiplier += 1
    return _clean(step * multiplier)


def _clean(value: float) -> float | int:
    return value if isinstance(value, int) else round(value, 10)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _fit_length(text: str, min_len: int, max_len: Any, more: Any) -> str | None:
    guard = 0
    while len(text) < min_len and guard < 50:
        text += " " + more()
        guard += 1
    if len(text) < min_len:
        text = text.ljust(min_len, "x")
    if max_len is not None:
        text = text[: int(max_len)]
    return text if len(text) >= min_len else None


def _pattern_samples(pattern: str, min_len: int, max_len: Any) -> Iterator[str]:
    for repeat in (0, 1, 2, 3, 5, 8):
        sample = sample_for_pattern(pattern, extra_repeats=repeat)
        if sample is not None:
            yield sample
    if max_len is not None or min_len:
        sample = sample_for_pattern(pattern, extra_repeats=max(min_len, 1))
        if sample is not None:
            yield sample


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


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


def _validator(root: Mapping[str, Any]) -> Any:
    import jsonschema  # on the first schema, not at emulator start-up

    try:
        cls = jsonschema.validators.validator_for(root, default=jsonschema.Draft202012Validator)
        return cls(root, format_checker=cls.FORMAT_CHECKER)
    except Exception:  # a schema jsonschema cannot read: values are not checked
        return None
