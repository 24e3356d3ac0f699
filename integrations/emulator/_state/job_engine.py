"""What batches and fine-tuning jobs share: stored documents whose state is recomputed from the
emulated clock whenever they are read, and the cancel rules (409 once cancelling or finished)."""

from __future__ import annotations

from typing import Any

from kluster_agents.integrations.emulator._server.http_errors import EmulatorAPIError, not_found
from kluster_agents.integrations.emulator._state.store import Store


class JobEngine:
    """Base of the batch and fine-tuning engines; subclasses define `_refresh`."""

    kind: str
    label: str
    id_param: str
    terminal: tuple[str, ...]

    def __init__(self, store: Store) -> None:
        self.store = store

    def _refresh(self, job: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def get(self, ident: str) -> dict[str, Any]:
        job = self.store.get(self.kind, ident)
        if job is None:
            raise not_found(self.label, ident, param=self.id_param)
        return self._refresh(job)

    def list(self) -> list[dict[str, Any]]:
        """All jobs, newest first, each brought up to date."""
        return [self._refresh(job) for job in self.store.list(self.kind)]

    def _cancellable(self, ident: str) -> dict[str, Any]:
        job = self.get(ident)
        if job["status"] in self.terminal or job["status"] == "cancelling":
            raise EmulatorAPIError(
                409,
                f"The {self.label} {ident} is {job['status']} and cannot be cancelled.",
                param=self.id_param,
                code="not_cancellable",
            )
        return job
