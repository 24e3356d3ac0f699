"""Moved to `kluster_agents.integrations.api.compat`; this path stays importable because the README used it."""

from kluster_agents.integrations.api.compat import KlusterCompatWarning, prepare_chat_request

__all__ = ["KlusterCompatWarning", "prepare_chat_request"]
