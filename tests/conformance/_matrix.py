"""The conformance matrix: every framework x every catalog chat model x every mode x every capability.

A cell either works — its result asserted for its capability — or is refused with a typed
`KlusterUnsupportedError` that names the model and the capability, before any request is sent.
What each cell should do follows from the catalog alone (`expected_refusal`); the drivers in
`drivers/` call each framework's public API as its users would. `python tests/conformance/_matrix.py`
writes the same table into the docs (`docs/conformance.md`), which a test keeps in step.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from kluster_agents.integrations._api.adaptive_requests import PLACEHOLDER_TEXT
from kluster_agents.integrations._api.catalog import VERIFY_MODEL, ModelInfo, chat_models, get_model
from kluster_agents.integrations._api.errors import KlusterUnsupportedError

FRAMEWORKS = ("core", "langchain", "litellm", "crewai", "pydantic_ai")
MODES = ("realtime", "stream", "async", "batch", "adaptive")
CAPABILITIES = ("text", "tools", "structured", "json_mode", "reasoning", "vision", "verify")
MODELS: tuple[ModelInfo, ...] = tuple(m for m in chat_models(include_registered=False) if m.id != VERIFY_MODEL)

# -- the inputs every driver uses ----------------------------------------------------------------
TEXT_PROMPT = "What is the capital of France? Answer in one word."
TOOL_PROMPT = "What is the weather in Paris?"
STRUCTURED_PROMPT = "Ada Lovelace is 36 years old. Extract the person."
JSON_PROMPT = "Return a JSON object with the keys name and age for Ada Lovelace, who is 36."
VISION_TEXT = "What is in this image? Answer in one sentence."


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is sunny in {city}."


class Person(BaseModel):
    """A person mentioned in the text."""

    name: str
    age: int


def _png(width: int = 2, height: int = 2) -> bytes:
    """A tiny valid red PNG, made here so the tests ship no binary."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


IMAGE_DATA_URL = "data:image/png;base64," + base64.b64encode(_png()).decode()


def vision_content() -> list[dict[str, Any]]:
    """The OpenAI content parts of the vision prompt (text + image), for frameworks that take them as is."""
    return [{"type": "text", "text": VISION_TEXT}, {"type": "image_url", "image_url": {"url": IMAGE_DATA_URL}}]


WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": get_weather.__name__,
        "description": (get_weather.__doc__ or "").strip(),
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
"""`get_weather` as an OpenAI tool definition, for entry points that take those as is."""


def user_content(capability: str) -> Any:
    """The user message content of a capability's cell (text, or text + image parts for vision)."""
    return {
        "tools": TOOL_PROMPT,
        "structured": STRUCTURED_PROMPT,
        "json_mode": JSON_PROMPT,
        "vision": vision_content(),
    }.get(capability, TEXT_PROMPT)


@dataclass(frozen=True)
class Cell:
    framework: str
    model: str
    mode: str
    capability: str

    def __str__(self) -> str:
        return f"{self.model.rsplit('/', 1)[-1]}-{self.mode}-{self.capability}"

    @property
    def info(self) -> ModelInfo:
        return get_model(self.model)


@dataclass
class Outcome:
    """What a driver got back, as the framework exposes it."""

    content: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    parsed: Any = None
    reasoning: str | None = None
    verdict: Any = None


# -- what each cell should do ------------------------------------------------------------------
REFUSAL_WORDS = {"tools": "tool", "vision": "image"}


def expected_refusal(cell: Cell) -> str | None:
    """Why the cell is refused before the network (the reason shown in the docs), or None when it works."""
    info = cell.info
    if cell.capability == "tools" and not info.tools:
        return f"{info.display_name} has no tool calling"
    if cell.capability == "vision" and not info.vision:
        return f"{info.display_name} has no image input"
    return None


def cells(framework: str) -> list[Cell]:
    return [
        Cell(framework, model.id, mode, capability) for model in MODELS for mode in MODES for capability in CAPABILITIES
    ]


def check_outcome(cell: Cell, outcome: Outcome) -> None:
    """Assert that `outcome` is a correct answer for the cell's capability."""
    assert isinstance(outcome, Outcome), f"{cell}: the driver returned {outcome!r}"
    assert PLACEHOLDER_TEXT not in outcome.content, f"{cell}: the adaptive placeholder came back as the answer"
    assert "<think>" not in outcome.content and "</think>" not in outcome.content, f"{cell}: reasoning in content"
    kind = cell.capability
    if kind == "tools":
        assert outcome.tool_calls, f"{cell}: no tool call ({outcome.content!r})"
        name, args = outcome.tool_calls[0]
        assert name == "get_weather" and isinstance(args.get("city"), str) and args["city"], (cell, outcome)
    elif kind == "structured":
        assert isinstance(outcome.parsed, Person), f"{cell}: {outcome.parsed!r}"
    elif kind == "json_mode":
        assert isinstance(outcome.parsed, dict), f"{cell}: {outcome.parsed!r}"
        assert json.loads(outcome.content) == outcome.parsed, f"{cell}: content is not the JSON object"
    elif kind == "verify":
        assert outcome.content.strip(), f"{cell}: empty answer"
        assert outcome.verdict is not None, f"{cell}: no verdict attached"
    else:
        assert outcome.content.strip(), f"{cell}: empty answer"
    if kind == "reasoning":
        if cell.info.reasoning:
            assert outcome.reasoning, f"{cell}: the reasoning was lost"
        else:
            assert not outcome.reasoning, f"{cell}: reasoning reported by a model without it"


def check_refusal(cell: Cell, error: BaseException) -> None:
    assert isinstance(error, KlusterUnsupportedError), f"{cell}: expected a typed refusal, got {error!r}"
    assert error.model == cell.model, f"{cell}: the refusal names {error.model!r}"
    word = REFUSAL_WORDS[cell.capability]
    assert word in str(error).lower(), f"{cell}: the refusal does not name the capability: {error}"


def run_cell(run: Callable[[Cell], Outcome], cell: Cell, emulator: Any) -> None:
    """Run one cell through a driver's `run` and assert it works, or is refused before the network."""
    reason = expected_refusal(cell)
    if reason is None:
        check_outcome(cell, run(cell))
        return
    before = emulator.controls.count()
    with pytest.raises(Exception) as info:
        run(cell)
    check_refusal(cell, info.value)
    assert emulator.controls.count() == before, f"{cell}: refused only after a request was sent"


# -- the docs table -------------------------------------------------------------------------------
def _how(model: ModelInfo, capability: str) -> str:
    if capability == "structured":
        return "" if model.tools else " (prompted JSON)"
    if capability == "reasoning":
        return " (kept apart)" if model.reasoning else " (none to split)"
    return ""


def render_table() -> str:
    """Markdown: per model, each capability's outcome in every mode (the same in every framework)."""
    lines = [
        "# Support matrix",
        "",
        "Generated from `tests/conformance/_matrix.py` (`python tests/conformance/_matrix.py`); the conformance",
        "suite runs every cell below in each of " + ", ".join(f"`{f}`" for f in FRAMEWORKS) + ",",
        f"in every mode ({', '.join(MODES)}), against the emulator, and asserts the outcome shown.",
        "✓ works (result asserted); *refused*: a typed `KlusterUnsupportedError` before any request is sent.",
        "",
        "| model | " + " | ".join(CAPABILITIES) + " |",
        "|---|" + "---|" * len(CAPABILITIES),
    ]
    for model in MODELS:
        row = []
        for capability in CAPABILITIES:
            reason = expected_refusal(Cell("any", model.id, MODES[0], capability))
            row.append(f"refused ({reason})" if reason else "✓" + _how(model, capability))
        lines.append(f"| `{model.id}` | " + " | ".join(row) + " |")
    notes = [
        "",
        "Structured output uses tool calling on models with tools and prompted JSON (validated, retried) elsewhere;",
        'JSON mode sends `response_format={"type": "json_object"}`; reasoning models\' `<think>` text is kept',
        "apart from the answer; Verify attaches a verdict through each framework's own hook.",
        "",
    ]
    return "\n".join(lines + notes)


DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"

if __name__ == "__main__":
    DOCS_PAGE.write_text(render_table(), encoding="utf-8")
    sys.stdout.write(f"wrote {DOCS_PAGE}\n")
