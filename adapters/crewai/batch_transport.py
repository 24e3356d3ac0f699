"""Moved to `kluster_agents.integrations.jobs.batch_transport` (the one batch-mode seam every
adapter plugs into); this path stays importable."""

from kluster_agents.integrations.jobs.batch_transport import MicroBatchTransport

__all__ = ["MicroBatchTransport"]
