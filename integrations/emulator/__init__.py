"""The embedded kluster.ai emulator ("LocalStack for kluster"): a real HTTP server that speaks
the kluster API as documented, for offline tests and recipes. It is a test double and says so
(`x-kluster-emulator: true`, `kluster_emulated: true`); it never claims to be the real service.

Imports are lazy: the pytest plugin imports this package at every pytest start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kluster_agents.integrations._lazy import lazy_exports

if TYPE_CHECKING:
    from kluster_agents.integrations.emulator._control.controls import EmulatorControls, JobTiming
    from kluster_agents.integrations.emulator._inspector.request_log import RequestRecord
    from kluster_agents.integrations.emulator._model.replies import Reply, ToolCall
    from kluster_agents.integrations.emulator._model.schema_instance import instance_for_schema
    from kluster_agents.integrations.emulator._server.server import Emulator, serve

_EXPORTS = {
    "Emulator": "_server.server",
    "serve": "_server.server",
    "EmulatorControls": "_control.controls",
    "JobTiming": "_control.controls",
    "RequestRecord": "_inspector.request_log",
    "Reply": "_model.replies",
    "ToolCall": "_model.replies",
    "instance_for_schema": "_model.schema_instance",
}
# A literal list, so that type checkers read the names above as this package's exports.
__all__ = [
    "Emulator",
    "EmulatorControls",
    "JobTiming",
    "Reply",
    "RequestRecord",
    "ToolCall",
    "instance_for_schema",
    "serve",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
