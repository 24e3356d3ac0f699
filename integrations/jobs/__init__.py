"""Work that runs as server-side jobs: the Batch API engine (JSONL, journal, polling), the
micro-batcher every adapter's batch mode plugs into, adaptive inference and fine-tuning.
"""

from __future__ import annotations

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
from kluster_agents.integrations.jobs.batch_transport import (
    MicroBatchTransport,
    make_async_batch_client,
    make_batch_client,
)
from kluster_agents.integrations.jobs.microbatch import MicroBatcher, MicroBatchStats

__all__ = [
    "BatchHandle",
    "BatchResult",
    "BatchResults",
    "BatchStatus",
    "MicroBatchStats",
    "MicroBatchTransport",
    "MicroBatcher",
    "arun_batch",
    "asubmit_batch",
    "iter_results",
    "make_async_batch_client",
    "make_batch_client",
    "run_batch",
    "submit_batch",
]
