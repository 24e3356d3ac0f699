"""Batch result decoding: one `BatchResult` per input line, from output lines, error lines and the
batch's own validation errors; a bad line becomes that line's typed error, never a lost run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaValidator, from_json
from pydantic_core import core_schema as cs

from kluster_agents.integrations._api.errors import KlusterBatchError, error_from_response
from kluster_agents.integrations._api.prices import cost_of
from kluster_agents.integrations._jobs.jsonl import Chunk, LineIndex, dumps, parse_json_line

if TYPE_CHECKING:
    from openai.types import Batch

ResultStatus = Literal["succeeded", "failed", "cancelled", "expired"]


class KlusterBatchWarning(UserWarning):
    """Something in a batch's result files was unusable (the affected lines are reported as failed)."""


_UNSET: Any = object()


class KlusterDuplicateAnswerError(KlusterBatchError):
    """The result files held more than one answer for one request: which one is meant is unknown, so
    the line is failed, never a guess passed off as succeeded. `answers` has a `BatchResult` per line."""

    def __init__(self, message: str, *, answers: tuple[BatchResult, ...], custom_id: str, batch_id: str | None) -> None:
        super().__init__(message, custom_id=custom_id, batch_id=batch_id)
        self.answers = answers


class BatchResult:
    """The outcome of one input request; `index` is its position in the input.

    Compact (`__slots__`, no per-line garbage for the collector to walk): a succeeded line keeps its
    raw result line and parses the `ChatCompletion` on the first access to `response`.
    """

    __slots__ = ("_payload", "_response", "_text", "custom_id", "duplicate", "error", "index", "status")

    custom_id: str
    index: int
    status: ResultStatus
    error: KlusterBatchError | None
    duplicate: bool
    """The result files held more than one line for this custom_id (a warning was issued); the line is
    then failed with a `KlusterDuplicateAnswerError` that carries every answer."""

    def __init__(
        self,
        custom_id: str,
        index: int,
        status: ResultStatus,
        response: ChatCompletion | None = None,
        error: KlusterBatchError | None = None,
        duplicate: bool = False,
        *,
        payload: str | bytes | None = None,
        text: Any = _UNSET,
    ) -> None:
        self.custom_id = custom_id
        self.index = index
        self.status = status
        self.error = error
        self.duplicate = duplicate
        self._response: ChatCompletion | None = _UNSET if payload is not None and response is None else response
        self._payload = payload
        self._text = text  # the reply text, when whoever read the line took it out already

    @property
    def response(self) -> ChatCompletion | None:
        """The chat completion of a succeeded line (parsed from its result line once, when first read)."""
        if self._response is _UNSET:
            self._response = _parse_completion(self._payload or "")
            self._payload = self._text = None
        return self._response

    @response.setter
    def response(self, value: ChatCompletion | None) -> None:
        self._response, self._payload, self._text = value, None, _UNSET

    @property
    def content(self) -> str | None:
        """The reply's text (the first choice's `message.content`) of a succeeded line, else None.

        Read straight from the raw result line while `response` has not been parsed (a few µs, against
        ~17 µs for a validated `ChatCompletion`): the cheap way through a big list of results."""
        if self._response is _UNSET:
            text = self._text if self._text is not _UNSET else _content_of(self._payload or "")
            if text is None or isinstance(text, str):  # else the line is of an unusual shape: parse it
                return text
        response = self.response
        if response is None or not response.choices:
            return None
        return response.choices[0].message.content

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def cost(self) -> float | None:
        """USD for this line at batch prices (`api.prices`; none are published, so set yours with
        `set_price(..., mode="batch")`), or None when unknown — never a real-time figure passed off as batch."""
        response = self.response
        if response is None:
            return None
        return cost_of(response.model, response.usage, mode="batch")

    def unwrap(self) -> ChatCompletion:
        """The chat completion, or raise this line's error."""
        response = self.response
        if response is None:
            raise self.error or KlusterBatchError(f"Request {self.index} has no result.", custom_id=self.custom_id)
        return response

    def _key(self) -> tuple[Any, ...]:
        error = None if self.error is None else (type(self.error), str(self.error))  # rebuilt on each read
        return (self.custom_id, self.index, self.status, self.response, error, self.duplicate)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchResult):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return (
            f"BatchResult(custom_id={self.custom_id!r}, index={self.index}, status={self.status!r}, "
            f"response={self.response!r}, error={self.error!r}, duplicate={self.duplicate})"
        )


def line_ok(obj: Mapping[str, Any]) -> bool:
    """Whether a result-file line is a successful completion (any other shape is that line's failure)."""
    response = obj.get("response")
    if not isinstance(response, Mapping):
        return False
    body = response.get("body")
    return (
        not obj.get("error")
        and response.get("status_code") == 200
        and isinstance(body, Mapping)
        and isinstance(body.get("choices"), list)
    )


def batch_errors(batch: Batch) -> list[dict[str, Any]]:
    """The batch object's `errors` as plain dicts, whatever their shape: the documented
    `{"object": "list", "data": [...]}`, the `[]` the live service sends (observed; the SDK then
    keeps a list, and `batch.errors.data` would raise), null, or SDK objects."""
    raw: Any = batch.errors
    if raw is None:
        return []
    if not isinstance(raw, (list, dict)):
        raw = raw.model_dump() if isinstance(raw, BaseModel) else getattr(raw, "data", None)
    if isinstance(raw, dict):
        raw = raw.get("data")
    items = raw if isinstance(raw, list) else []
    out = []
    for item in items:
        data = item.model_dump() if isinstance(item, BaseModel) else item
        if isinstance(data, dict):
            out.append(data)
        elif data is not None:
            out.append({"message": str(data)})
    return out


def validation_errors(batch: Batch, chunk: Chunk, index: LineIndex) -> list[tuple[str, bool, str]]:
    """Line-numbered errors from the batch object (input validation) as per-line failures."""
    rows = []
    for err in batch_errors(batch):
        line = err.get("line")
        if not isinstance(line, int) or not 1 <= line <= chunk.lines:
            continue
        custom_id = index.custom_id_at(chunk.first_index + line - 1)
        if custom_id is not None:
            error = {"code": err.get("code"), "message": err.get("message"), "param": err.get("param"), "line": line}
            rows.append((custom_id, False, dumps({"custom_id": custom_id, "error": error})))
    return rows


def _line_error(idx: int, custom_id: str, batch: Batch, obj: Mapping[str, Any]) -> KlusterBatchError:
    raw_response = obj.get("response")
    response: Mapping[str, Any] = raw_response if isinstance(raw_response, Mapping) else {}
    where = f"Request {idx} (custom_id {custom_id!r}) failed in batch {batch.id}"
    if response.get("status_code") not in (None, 200):
        cause = error_from_response(int(response["status_code"]), response.get("body"))
        error = KlusterBatchError(f"{where}: {cause.message}", custom_id=custom_id, batch_id=batch.id)
        error.__cause__ = cause
        return error
    detail = obj.get("error") or {}
    message = detail.get("message") if isinstance(detail, dict) else str(detail)
    code = f" [{detail.get('code')}]" if isinstance(detail, dict) and detail.get("code") else ""
    return KlusterBatchError(f"{where}{code}: {message or 'no response body'}", custom_id=custom_id, batch_id=batch.id)


def _batch_level_message(batch: Batch) -> str:
    errors = batch_errors(batch)
    if errors:
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors[:3])
    return "no result for this line"


class _SucceededResponse(BaseModel):
    body: ChatCompletion


class _SucceededLine(BaseModel):
    """A successful result line, parsed in one pass by pydantic-core (the hot path of big batches)."""

    response: _SucceededResponse


def build_result(idx: int, custom_id: str, ok: bool | None, payload: str | bytes | None, batch: Batch) -> BatchResult:
    """One input's `BatchResult` from its stored result line (None: the job's final status decides).
    A line of an unexpected shape becomes this input's typed error; it never sinks the others."""
    try:
        return _build_result(idx, custom_id, ok, payload, batch)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        error = KlusterBatchError(
            f"Request {idx} (custom_id {custom_id!r}): its result line in batch {batch.id} is malformed "
            f"({type(exc).__name__}: {str(exc)[:120]}); re-submit this request.",
            custom_id=custom_id,
            batch_id=batch.id,
        )
        return BatchResult(custom_id, idx, "failed", error=error)


def _object(**fields: cs.CoreSchema) -> cs.TypedDictSchema:
    """A JSON object with these (required) fields; any other field is skipped, never built."""
    return cs.typed_dict_schema({k: cs.typed_dict_field(v) for k, v in fields.items()}, extra_behavior="ignore")


_TEXT = cs.str_schema(strict=True)
_CUSTOM_ID = SchemaValidator(_object(custom_id=_TEXT))
"""Reads only a result line's custom_id (half the cost of parsing the whole line)."""

_SUCCEEDED = SchemaValidator(
    cs.typed_dict_schema(
        {
            "error": cs.typed_dict_field(cs.nullable_schema(cs.any_schema()), required=False),
            "response": cs.typed_dict_field(
                _object(
                    status_code=cs.literal_schema([200]),  # 200 or 200.0, as `line_ok`'s `== 200`
                    body=_object(choices=cs.list_schema(_object(message=_object(content=cs.nullable_schema(_TEXT))))),
                )
            ),
        },
        extra_behavior="ignore",
    )
)
"""Accepts only lines `line_ok` accepts, of the usual shape (choices with a text or null message content),
and takes out the first reply's text in the same pass; any other line goes the general way."""


_CUSTOM_ID_KEY = b'"custom_id":"'


def custom_id_of(line: bytes | str) -> str | None:
    """A result line's custom_id when it is a JSON object with a string one (None: parse it the general way).

    The service writes it near the start of each line (`{"id":...,"custom_id":"..."`), so a byte scan
    finds it without parsing the line (the full parse comes once, when the result is read). The scan
    only answers when the key is certainly the top-level one: the line opens with `{`, no other `{`
    comes before the key, the key follows `{` or `,` (an unescaped quote there starts a key), and the
    value has no escapes; anything else is parsed."""
    if type(line) is bytes and line[:1] == b"{":
        at = line.find(_CUSTOM_ID_KEY)
        if at > 0 and line[at - 1] in b"{," and line.find(b"{", 1, at) < 0:
            start = at + len(_CUSTOM_ID_KEY)
            end = line.find(b'"', start)
            if end > 0 and line.find(b"\\", start, end) < 0:
                try:
                    return line[start:end].decode()
                except UnicodeDecodeError:
                    pass
    try:
        return str(_CUSTOM_ID.validate_json(line)["custom_id"])
    except ValidationError:
        return None


def result_from_line(idx: int, custom_id: str, payload: bytes | str | None, batch: Batch) -> BatchResult:
    """`build_result` for a stored result line not judged yet: a usual successful line is recognised, and its
    reply text taken out, in one pass; anything else is judged by `line_ok` on the parsed line."""
    if payload is None:
        return build_result(idx, custom_id, None, None, batch)
    try:
        line = _SUCCEEDED.validate_json(payload)
    except ValidationError:
        pass
    else:
        if not line.get("error"):
            choices = line["response"]["body"]["choices"]
            text = choices[0]["message"]["content"] if choices else None
            return BatchResult(custom_id, idx, "succeeded", payload=payload, text=text)
    try:
        ok = line_ok(parse_json_line(payload))
    except ValueError:
        ok = False  # an unparsable line (kept by an earlier version): reported as this line's malformed result
    return build_result(idx, custom_id, ok, payload, batch)


def ambiguous_result(idx: int, custom_id: str, payloads: list[bytes], batch: Batch) -> BatchResult:
    """A failed result for a request the service answered more than once, each answer on its error."""
    answers = tuple(result_from_line(idx, custom_id, payload, batch) for payload in payloads)
    error = KlusterDuplicateAnswerError(
        f"Batch {batch.id}: {len(answers)} answers came back for request {idx} (custom_id {custom_id!r}); "
        "which one is meant is ambiguous, so the line is reported as failed. Every answer is on this error "
        "(`.answers`): pick one, or resubmit the request.",
        answers=answers,
        custom_id=custom_id,
        batch_id=batch.id,
    )
    return BatchResult(custom_id, idx, "failed", error=error, duplicate=True)


def _content_of(payload: str | bytes) -> Any:
    """The first choice's message text in a result line, or `_UNSET` when the line is not of the usual
    shape (the caller then parses the whole `ChatCompletion`, as `response` does)."""
    try:
        content = from_json(payload)["response"]["body"]["choices"][0]["message"]["content"]
    except (ValueError, LookupError, TypeError):
        return _UNSET
    return content if content is None or type(content) is str else _UNSET


def _parse_completion(payload: str | bytes) -> ChatCompletion:
    try:
        return _SucceededLine.model_validate_json(payload).response.body
    except ValidationError:  # an unusual shape still reaches the caller, as the SDK would give it
        return ChatCompletion.construct(**json.loads(payload)["response"]["body"])


def _build_result(idx: int, custom_id: str, ok: bool | None, payload: str | bytes | None, batch: Batch) -> BatchResult:
    if payload is not None and ok:  # stored as a line `line_ok` accepted: parsed when `response` is read
        return BatchResult(custom_id, idx, "succeeded", payload=payload)
    obj = json.loads(payload) if payload is not None else None
    status = batch.status
    ran = obj is not None and not (obj.get("response") is None and status in ("cancelled", "expired"))
    if ran and obj is not None:  # `ran` implies a line; the second test narrows `obj` for the checker
        return BatchResult(custom_id, idx, "failed", error=_line_error(idx, custom_id, batch, obj))
    if status in ("cancelled", "expired"):
        text = "was cancelled before it ran" if status == "cancelled" else "expired before it ran (completion window)"
        error = KlusterBatchError(
            f"Request {idx} (custom_id {custom_id!r}) {text} in batch {batch.id}.",
            custom_id=custom_id,
            batch_id=batch.id,
        )
        return BatchResult(custom_id, idx, status, error=error)
    error = KlusterBatchError(
        f"Request {idx} (custom_id {custom_id!r}): batch {batch.id} ended '{status}': {_batch_level_message(batch)}.",
        custom_id=custom_id,
        batch_id=batch.id,
    )
    return BatchResult(custom_id, idx, "failed", error=error)
