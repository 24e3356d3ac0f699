"""Prompted-JSON structured output, for kluster.ai models without tool calling.

kluster.ai refuses `response_format` (docs: "Compatibility with OpenAI client libraries"),
so an adapter asks for structured output either through tool calling (models with Tools in
the catalog) or — everywhere else — by prompting: put the JSON Schema into the
conversation, pull the JSON object out of the reply, validate it, and on failure send the
model a feedback message and try again (a bounded number of times).

This module holds the framework-free pieces every adapter shares: the instruction text, the
JSON extraction, the validation and the retry feedback. Adapters own the loop, because each
framework has its own message types.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from pydantic import BaseModel, TypeAdapter, ValidationError

from kluster_agents.integrations._api.errors import KlusterError

OutputSchema = type[BaseModel] | Mapping[str, Any] | type | None
"""A pydantic model class, a JSON Schema / OpenAI function dict, a TypedDict class — or None
for "any JSON object" (JSON mode)."""

DEFAULT_MAX_RETRIES = 2
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


class KlusterStructuredOutputError(KlusterError, ValueError):
    """The model's reply could not be turned into the requested structure.

    `raw` is the reply text, `problem` what was wrong with it (used for retry feedback).
    """

    def __init__(self, problem: str, *, raw: str) -> None:
        super().__init__(f"Structured output failed: {problem}. Reply was: {raw[:300]!r}")
        self.problem = problem
        self.raw = raw


def is_pydantic_model(schema: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(schema, type) and issubclass(schema, BaseModel)


def is_pydantic_v1_model(schema: Any) -> bool:
    """A `pydantic.v1.BaseModel` class (still used by older LangChain code and its standard tests)."""
    from pydantic import v1

    return isinstance(schema, type) and issubclass(schema, v1.BaseModel)


def json_schema_of(schema: OutputSchema) -> dict[str, Any] | None:
    """The JSON Schema of `schema` (None stays None: any JSON object).

    Accepts pydantic models, TypedDicts/dataclasses, plain JSON Schemas and OpenAI function
    definitions (`{"name", "parameters"}` or `{"type": "function", "function": {...}}`).
    """
    if schema is None:
        return None
    if is_pydantic_model(schema):
        return schema.model_json_schema()
    if is_pydantic_v1_model(schema):
        v1_model: Any = schema
        return dict(v1_model.schema())
    if isinstance(schema, Mapping):
        spec: Mapping[str, Any] = schema
        if spec.get("type") == "function" and isinstance(spec.get("function"), Mapping):
            spec = spec["function"]
        if "parameters" in spec and "properties" not in spec:
            params = dict(spec["parameters"])
            for key in ("title", "description"):
                source = "name" if key == "title" else key
                if source in spec:
                    params.setdefault(key, spec[source])
            return params
        return dict(spec)
    return TypeAdapter(schema).json_schema()


def schema_instructions(schema: OutputSchema) -> str:
    """System-prompt text asking for exactly one JSON object (conforming to `schema` if given)."""
    json_schema = json_schema_of(schema)
    if json_schema is None:
        return "Answer with a single JSON object and nothing else: no prose, no Markdown code fences."
    return (
        "Answer with a single JSON object that conforms to the JSON Schema below, and nothing else: "
        "no prose, no Markdown code fences, no schema keywords — only the data.\n"
        f"JSON Schema:\n{json.dumps(json_schema, ensure_ascii=False)}"
    )


def extract_json(text: str) -> Any:
    """The first JSON object in `text` (also inside ```json fences or after leading prose)."""
    if not isinstance(text, str) or not text.strip():
        raise KlusterStructuredOutputError("the reply was empty", raw=str(text or ""))
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        stripped = candidate.strip()
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            pass
        for start in (i for i, ch in enumerate(stripped) if ch == "{"):
            try:
                value, _ = decoder.raw_decode(stripped, start)
            except json.JSONDecodeError:
                continue
            return value
    raise KlusterStructuredOutputError("the reply contained no JSON object", raw=text)


def validate_output(data: Any, schema: OutputSchema, *, raw: str = "") -> Any:
    """Validate parsed JSON: a pydantic model instance for model classes, else the dict itself."""
    raw = raw or json.dumps(data, default=str)
    if schema is None:
        if not isinstance(data, dict):
            raise KlusterStructuredOutputError(f"expected a JSON object, got {type(data).__name__}", raw=raw)
        return data
    if is_pydantic_model(schema):
        try:
            return schema.model_validate(data)
        except ValidationError as exc:
            raise KlusterStructuredOutputError(_describe(exc), raw=raw) from None
    if is_pydantic_v1_model(schema):
        from pydantic import v1

        try:
            return schema.parse_obj(data)  # type: ignore[union-attr]
        except v1.ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            raise KlusterStructuredOutputError(f"the JSON did not match the schema ({problems})", raw=raw) from None
    if isinstance(schema, Mapping):
        return _validate_with_json_schema(data, json_schema_of(schema) or {}, raw)
    try:
        return TypeAdapter(schema).validate_python(data)
    except ValidationError as exc:
        raise KlusterStructuredOutputError(_describe(exc), raw=raw) from None


def parse_structured(text: str, schema: OutputSchema) -> Any:
    """Extract and validate: the one call an adapter makes on each model reply."""
    return validate_output(extract_json(text), schema, raw=text)


def retry_feedback(error: KlusterStructuredOutputError, schema: OutputSchema) -> str:
    """The message sent back to the model after an unusable reply."""
    return f"Your previous reply could not be used: {error.problem}. " + schema_instructions(schema)


def _describe(exc: ValidationError) -> str:
    problems = [f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()[:5]]
    return "the JSON did not match the schema (" + "; ".join(problems) + ")"


def _validate_with_json_schema(data: Any, json_schema: dict[str, Any], raw: str) -> Any:
    import jsonschema  # a dependency of `mcp`, which kluster-agents requires

    try:
        jsonschema.validate(data, json_schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "(root)"
        raise KlusterStructuredOutputError(
            f"the JSON did not match the schema ({where}: {exc.message})", raw=raw
        ) from None
    except jsonschema.SchemaError as exc:
        raise KlusterStructuredOutputError(f"the output schema itself is invalid: {exc.message}", raw=raw) from None
    return data
