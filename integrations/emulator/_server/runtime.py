"""`EmulatorRuntime`: the objects every route shares (controls, store, reply engine, verifier, job
engines) and the model lookup that knows the catalog plus models fine-tuned in the emulator."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kluster_agents.integrations._api.catalog import ModelInfo, get_model, list_models
from kluster_agents.integrations.emulator._cassettes.exchanges import chat_replays, load_exchanges, verify_answers
from kluster_agents.integrations.emulator._control.controls import EmulatorControls
from kluster_agents.integrations.emulator._model.replies import Reply, ReplyEngine, ToolCall, request_key
from kluster_agents.integrations.emulator._model.verify_heuristic import Verifier
from kluster_agents.integrations.emulator._state.batch_engine import BatchEngine
from kluster_agents.integrations.emulator._state.file_service import FileService
from kluster_agents.integrations.emulator._state.finetune_engine import FineTuneEngine
from kluster_agents.integrations.emulator._state.store import Store

if TYPE_CHECKING:
    from kluster_agents.integrations.emulator._cassettes.cassette import CassettePlayer, CassetteRecorder

FINE_TUNED_KIND = "model"
MCP_KIND = "mcp"
MCP_ID = "endpoint"


class EmulatorRuntime:
    """Shared state of one emulator instance."""

    def __init__(self, *, api_key: str, controls: EmulatorControls, state_path: str | Path | None = None) -> None:
        self.api_key = api_key
        self.inspector_token = secrets.token_urlsafe(18)  # the inspector page's access token
        self.controls = controls
        self.store = Store(state_path)
        exchanges = load_exchanges()
        self.verifier = Verifier(verify_answers(exchanges))
        recorded = {
            request_key(
                body["model"],
                body["messages"],
                body.get("tools"),
                body.get("tool_choice"),
                body.get("parallel_tool_calls"),
            ): Reply(
                content=message.get("content"),
                tool_calls=tuple(
                    ToolCall(c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []
                ),
                finish_reason="tool_calls" if message.get("tool_calls") else "stop",
            )
            for body, message in chat_replays(exchanges)
        }
        self.replies = ReplyEngine(controls.scripts, recorded, self.verifier)
        self._catalog = {m.id: m for m in list_models()}
        self._fine_tuned = {m["id"] for m in self.store.list(FINE_TUNED_KIND)}
        self.files = FileService(self.store, controls.clock, lambda: controls.mode != "docs-strict")
        self.batches = BatchEngine(self.store, self.files, controls, self.replies, self.lookup_model)
        self.finetunes = FineTuneEngine(self.store, self.files, controls, self.add_fine_tuned_model)
        self.cassette: CassetteRecorder | CassettePlayer | None = None  # see passthrough.py

    def lookup_model(self, name: str) -> ModelInfo | None:
        """The model for an API name, or None when the service would answer 404."""
        info = self._catalog.get(name)
        if info is None:
            self._catalog = {m.id: m for m in list_models()}  # picks up models registered since
            info = self._catalog.get(name)
        if info is None and name in self._fine_tuned:
            info = get_model(name)
        return info

    def add_fine_tuned_model(self, name: str, created: int) -> None:
        self.store.put(FINE_TUNED_KIND, {"id": name, "object": "model", "created": created, "owned_by": "personal"})
        self._fine_tuned.add(name)

    async def verify(
        self, prompt: str, output: str, context: str | None, return_search_results: bool
    ) -> dict[str, Any]:
        """The verifier as the async callable the MCP tools take."""
        return {**self.verifier.check(prompt, output, context, return_search_results), "kluster_emulated": True}

    def mcp_token(self) -> str | None:
        """The current MCP token, or None while the MCP endpoint is disabled."""
        state = self.store.get(MCP_KIND, MCP_ID)
        return state["token"] if state and state.get("enabled") else None

    def reset(self, *, mode: str | None = None, tier: str | None = None, limits: bool | None = None) -> None:
        """Forget all state and return the controls to their defaults."""
        self.controls.reset(mode=mode, tier=tier, limits=limits)
        self.store.clear()
        self._fine_tuned.clear()
