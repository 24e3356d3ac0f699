"""OpenTelemetry spans for batch jobs, adaptive requests and Verify checks, off unless the user traces.

"Configured" means the process has imported `opentelemetry.trace` (a user who set up a tracer
provider, or `opentelemetry-instrument`, has); otherwise every call here is a no-op that imports
nothing, so a process without OpenTelemetry pays no import and no per-call cost. With it, spans go
to whatever provider the user installed (none: the API's non-recording spans).

Attributes follow the GenAI semantic conventions where they fit (`gen_ai.provider.name`,
`gen_ai.request.model`, `gen_ai.usage.*`), plus `kluster.*` for job id, run key, chunk, status
and line counts. A batch job outlives the process that submitted it: its submit span's context
travels in the job's metadata (`TRACE_METADATA_KEY`, W3C traceparent), and every later poll or
download, by any worker, links to it. Prompts, outputs, keys and tokens never become attributes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

PROVIDER = "kluster"
TRACER_NAME = "kluster_agents"
TRACE_METADATA_KEY = "kluster_agents_trace"  # a batch job's metadata: the traceparent of its submit span

AttributeValue = str | bool | int | float
Attributes = Mapping[str, AttributeValue | None]


def enabled() -> bool:
    """Whether the user's process has OpenTelemetry loaded (we never import it ourselves)."""
    return "opentelemetry.trace" in sys.modules


class Span:
    """What a span site holds: `set()` attributes once they are known (e.g. the job id after create)."""

    __slots__ = ("_span",)

    def __init__(self, span: Any = None) -> None:
        self._span = span

    def set(self, attributes: Attributes) -> None:
        if self._span is not None:
            self._span.set_attributes({k: v for k, v in attributes.items() if v is not None})

    def traceparent(self) -> str | None:
        """This span's W3C traceparent (for a job's metadata), or None when not recording."""
        if self._span is None or not self._span.is_recording():
            return None
        from opentelemetry.propagate import get_global_textmap
        from opentelemetry.trace import set_span_in_context

        carrier: dict[str, str] = {}
        get_global_textmap().inject(carrier, context=set_span_in_context(self._span))
        return carrier.get("traceparent")


_NOOP = Span()


@contextmanager
def span(name: str, attributes: Attributes | None = None, *, linked: str | None = None) -> Iterator[Span]:
    """A span named `name` (a child of the current one) with `attributes` (None values left out);
    `linked` is a traceparent (from a job's metadata) this span links to. A no-op when OTel is off."""
    if not enabled():
        yield _NOOP
        return
    from opentelemetry import trace

    links = _links(linked)
    base: dict[str, AttributeValue] = {"gen_ai.provider.name": PROVIDER}
    base.update({k: v for k, v in (attributes or {}).items() if v is not None})
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(name, attributes=base, links=links) as current:
        yield Span(current)


def _links(traceparent: str | None) -> list[Any]:
    if not traceparent:
        return []
    from opentelemetry.trace import Link, get_current_span
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = get_current_span(TraceContextTextMapPropagator().extract({"traceparent": traceparent})).get_span_context()
    return [Link(context)] if context.is_valid else []


def job_link(batch: Any) -> str | None:
    """The traceparent a batch job carries in its metadata (its submit span), if any."""
    metadata = getattr(batch, "metadata", None) or {}
    value = metadata.get(TRACE_METADATA_KEY)
    return value if isinstance(value, str) else None


def batch_attributes(batch: Any) -> dict[str, AttributeValue | None]:
    """A batch job's id, status and line counts as span attributes."""
    counts = getattr(batch, "request_counts", None)
    return {
        "kluster.batch.id": batch.id,
        "kluster.batch.status": batch.status,
        "kluster.batch.lines_total": counts.total if counts else None,
        "kluster.batch.lines_ok": counts.completed if counts else None,
        "kluster.batch.lines_failed": counts.failed if counts else None,
    }


def usage_attributes(usage: Any) -> dict[str, AttributeValue | None]:
    """A completion's token usage as `gen_ai.usage.*` attributes."""
    if usage is None:
        return {}

    def get(name: str) -> Any:
        return usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)

    return {"gen_ai.usage.input_tokens": get("prompt_tokens"), "gen_ai.usage.output_tokens": get("completion_tokens")}
