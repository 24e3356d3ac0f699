"""`KlusterChatModel`: pydantic-ai's `OpenAIChatModel` with kluster's typed errors.

Its own module because `pydantic_ai.models.openai` is slow to import: `KlusterProvider` alone
(what a user passes to their own model) does not pay for it; `kluster_model()` does, on first call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic_ai.models.openai import OpenAIChatModel

from kluster_agents.integrations.api.openai_errors import raise_typed


class KlusterChatModel(OpenAIChatModel):
    """`OpenAIChatModel` whose failures are `KlusterError`s that are also pydantic-ai's own types
    (a 401 is a `KlusterAuthError` and a `ModelHTTPError`, so `FallbackModel` still falls back)."""

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().request(*args, **kwargs)
        except Exception as exc:
            raise_typed(exc)
            raise

    @asynccontextmanager
    async def request_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        try:
            async with super().request_stream(*args, **kwargs) as stream:
                yield stream
        except Exception as exc:
            raise_typed(exc)
            raise
