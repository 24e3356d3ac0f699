"""Work that runs as server-side jobs: the Batch API engine (JSONL, journal, polling), the
micro-batcher every adapter's batch mode plugs into, adaptive inference and fine-tuning.

Names load on first use (PEP 562): importing one job module (e.g. `jobs.batch_transport` for an
adapter's batch mode) does not load the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kluster_agents.integrations._lazy import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "BatchHandle": "batch",
    "BatchResults": "batch",
    "BatchStatus": "batch",
    "arun_batch": "batch",
    "asubmit_batch": "batch",
    "iter_results": "batch",
    "run_batch": "batch",
    "submit_batch": "batch",
    "BatchResult": "batch_results",
    "MicroBatchTransport": "batch_transport",
    "make_async_batch_client": "batch_transport",
    "make_batch_client": "batch_transport",
    "MicroBatcher": "microbatch",
    "MicroBatchStats": "microbatch",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
