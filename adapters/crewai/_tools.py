"""`KlusterVerifyTool`: lets a CrewAI agent check a claim with kluster.ai Verify itself."""

from __future__ import annotations

import json
from typing import Any

from crewai.tools import BaseTool
from pydantic import BaseModel, Field, PrivateAttr

from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._verify.client import VerifyClient
from kluster_agents.integrations._verify.result import VerifyResult


class VerifyToolInput(BaseModel):
    """Arguments of the Verify tool."""

    prompt: str = Field(description="The question or request the answer responds to.")
    output: str = Field(description="The answer or claim to check.")
    context: str | None = Field(
        default=None, description="Reference text the answer must be supported by; omit to check against the web."
    )


def _as_tool_text(result: VerifyResult) -> str:
    """A compact JSON verdict the agent can read (it says when the verdict is emulated)."""
    verdict: dict[str, Any] = {
        "status": result.status,
        "is_hallucination": result.is_hallucination,
        "explanation": result.explanation,
    }
    if result.emulated:
        verdict["emulated"] = True
    return json.dumps(verdict, ensure_ascii=False)


class KlusterVerifyTool(BaseTool):
    """Verify whether an answer is reliable or a hallucination (kluster.ai Verify).

    Errors (no key, bad input, Verify outage) are raised as `KlusterError`s; CrewAI reports
    them to the agent as a failed tool call, so an outage is never read as "reliable".
    """

    name: str = "kluster_verify"
    description: str = (
        "Check whether an answer to a question is reliable or a hallucination, optionally against reference "
        "text (context). Returns JSON with status ('reliable' or 'hallucination'), is_hallucination and an "
        "explanation of what is unsupported."
    )
    args_schema: type[BaseModel] = VerifyToolInput
    settings: KlusterSettings | None = Field(default=None, exclude=True, repr=False)

    _client: VerifyClient | None = PrivateAttr(default=None)

    def __init__(self, *, client: VerifyClient | None = None, **data: Any) -> None:
        super().__init__(**data)
        self._client = client

    @property
    def client(self) -> VerifyClient:
        if self._client is None:
            self._client = VerifyClient(self.settings)
        return self._client

    def _run(self, prompt: str, output: str, context: str | None = None) -> str:
        return _as_tool_text(self.client.verify(prompt, output, context))

    async def _arun(self, prompt: str, output: str, context: str | None = None) -> str:
        return _as_tool_text(await self.client.averify(prompt, output, context))
