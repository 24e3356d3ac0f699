"""`KlusterVerifyGuardrail`: kluster.ai Verify as a CrewAI task guardrail.

CrewAI calls a guardrail with the `TaskOutput` and expects `(True, output)` to accept it or
`(False, feedback)` to re-run the agent with the feedback. The guardrail asks a `VerifyPolicy`:
reliable -> `(True, output)`; flagged -> `(False, <Verify's explanation as feedback>)` while the
policy allows retries, then the policy's `on_exhausted` (raise `HallucinationDetected`, or
annotate); a Verify outage -> the policy's `on_error` (fail closed: `KlusterVerifyError`;
`mark_unverified`: accepted, labelled "unverified"). Nothing passes silently: annotated and
unverified outputs carry a note in their text and are listed in `guardrail.outcomes`.

It subclasses CrewAI's open-source `HallucinationGuardrail` placeholder (a no-op there): CrewAI's
guardrail events read the source code of any other callable object, which fails for
instances, and name this kind by its `description`. No `from __future__ import annotations`
here: CrewAI inspects `__call__`'s return annotation at runtime and accepts only a real
`tuple[bool, Any]`.
"""

import re
import threading
from collections.abc import Callable
from typing import Any, Literal

from crewai.tasks.hallucination_guardrail import HallucinationGuardrail
from crewai.tasks.task_output import TaskOutput

from kluster_agents.integrations._api.compat import content_text
from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._verify.policy import VerifyOutcome, VerifyPolicy

ContextSource = Literal["tools", "conversation"] | Callable[[TaskOutput], str | None] | None

_OBSERVATION = re.compile(r"Observation:\s*(.*?)(?=\n\s*(?:Thought|Action|Final Answer):|\Z)", re.DOTALL)


def tool_results(output: TaskOutput) -> list[str]:
    """What the agent's tools returned: native `tool` messages and ReAct `Observation:` text."""
    found: list[str] = []
    for message in output.messages:
        text = content_text(message.get("content"))
        if message.get("role") == "tool":
            found.append(text)
        elif message.get("role") in ("assistant", "user"):
            found.extend(m.strip() for m in _OBSERVATION.findall(text) if m.strip())
    return [t for t in found if t.strip()]


def conversation_context(output: TaskOutput) -> str | None:
    """Everything the agent was given: the task prompt (with upstream task outputs) and tool results."""
    parts = [content_text(m.get("content")) for m in output.messages if m.get("role") in ("user", "tool")]
    return "\n\n".join(p for p in parts if p.strip()) or None


def _resolve_context_source(context: ContextSource) -> Callable[[TaskOutput], str | None]:
    if context is None:
        return lambda output: None
    if context == "tools":
        return lambda output: "\n\n".join(tool_results(output)) or None
    if context == "conversation":
        return conversation_context
    if callable(context):
        return context
    raise KlusterConfigError(
        f"context must be None, 'tools', 'conversation' or a callable(TaskOutput) -> str | None, got {context!r}."
    )


class KlusterVerifyGuardrail(HallucinationGuardrail):
    """Use as `Task(guardrail=KlusterVerifyGuardrail(...))` or in `Task(guardrails=[...])`.

    `policy`: a `VerifyPolicy` (default: retry up to 2 times with feedback, then raise; fail
    closed on outages). Give the task `guardrail_max_retries >= policy.max_retries`.
    `context`: where the grounding context comes from — None (Verify's own web search),
    "tools" (the results of the agent's tool calls), "conversation" (task prompt, upstream task
    outputs and tool results) or a callable(TaskOutput) -> str | None. `prompt_from`: the question
    that was answered; default: the task description. Every outcome is kept in `outcomes` (CrewAI outputs have no metadata slot;
    `outcome.to_metadata()` is the dict the other adapters store).
    """

    def __init__(
        self,
        policy: VerifyPolicy | None = None,
        *,
        context: ContextSource = None,
        prompt_from: Callable[[TaskOutput], str] | None = None,
    ) -> None:  # the placeholder's __init__ (an LLM and a "no-op" warning) is deliberately not called
        self.policy = policy or VerifyPolicy()
        self._context = _resolve_context_source(context)
        self._prompt = prompt_from or (lambda output: output.description)
        self.outcomes: list[VerifyOutcome] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(policy={self.policy!r})"

    @property
    def description(self) -> str:
        """How CrewAI's guardrail events name this guardrail."""
        return "kluster.ai Verify hallucination guardrail"

    def __call__(self, output: TaskOutput) -> tuple[bool, Any]:
        outcome = self.policy.check(self._prompt(output), output.raw, self._context(output))
        with self._lock:
            self.outcomes.append(outcome)
        if outcome.action == "retry":
            return False, outcome.feedback
        if outcome.action in ("annotate", "unverified"):
            _add_note(output, outcome)
        return True, output


def _add_note(output: TaskOutput, outcome: VerifyOutcome) -> None:
    """Label a let-through output in its text (structured outputs keep their data untouched)."""
    if output.pydantic is not None or output.json_dict is not None:
        return
    explanation = outcome.result.explanation.strip() if outcome.result else ""
    label = "unverified" if outcome.action == "unverified" else "flagged as possibly unreliable"
    output.raw = f"{output.raw}\n\n[kluster.ai Verify: {label}. {explanation}]".rstrip()
