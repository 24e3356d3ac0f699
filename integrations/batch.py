"""Moved to `kluster_agents.integrations.jobs`; this path stays importable because the README used it."""

from kluster_agents.integrations.jobs.batch import (
    BatchHandle,
    BatchResults,
    BatchStatus,
    arun_batch,
    asubmit_batch,
    iter_results,
    run_batch,
    submit_batch,
)
from kluster_agents.integrations.jobs.batch_results import BatchResult

__all__ = [
    "BatchHandle",
    "BatchResult",
    "BatchResults",
    "BatchStatus",
    "arun_batch",
    "asubmit_batch",
    "iter_results",
    "run_batch",
    "submit_batch",
]
