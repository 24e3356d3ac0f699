"""Moved to `kluster_agents.integrations.jobs.microbatch`; this path stays importable because recipes used it."""

from kluster_agents.integrations.jobs.microbatch import MicroBatcher, MicroBatchStats

__all__ = ["MicroBatchStats", "MicroBatcher"]
