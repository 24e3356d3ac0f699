"""Creating a run's jobs exactly once: a lost response never leads to a second, double-billed job (the
job is looked up by input file and by the run's metadata tags before a retry), and workers that submit
the same input at once agree on the earliest job and cancel their own duplicates."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import openai

from kluster_agents.integrations._jobs.jsonl import BATCH_ENDPOINT

if TYPE_CHECKING:
    from openai.types import Batch


RUN_METADATA_KEY = "kluster_agents_run"
CHUNK_METADATA_KEY = "kluster_agents_chunk"
_CREATE_ATTEMPTS = 3
logger = logging.getLogger(__name__)


def find_batch_for_file(
    client: openai.OpenAI, file_id: str | None, *, run_key: str | None = None, chunk: int | None = None
) -> Batch | None:
    """A batch already created from `file_id`, or tagged with this run's key and chunk in its metadata
    (a crash or a lost response between create and journal write). Searches every page of the list."""
    for batch in client.batches.list(limit=100):  # the SDK's cursor follows `has_more` across all pages
        if file_id and batch.input_file_id == file_id:
            return batch
        meta = batch.metadata or {}
        if run_key and meta.get(RUN_METADATA_KEY) == run_key[:64] and meta.get(CHUNK_METADATA_KEY) == str(chunk):
            return batch
    return None


# jobs a worker may adopt: not cancelled (by a user, or by reconciliation as a duplicate), not dead
_NOT_ADOPTABLE = frozenset({"cancelling", "cancelled", "failed", "expired"})


def run_batches(client: openai.OpenAI, run_key: str) -> dict[int, list[Batch]]:
    """Adoptable jobs tagged with `run_key`, by chunk, earliest first. The service's list order (newest
    first, as OpenAI's) is the one every worker sees alike; `created_at` has whole seconds only."""
    found: dict[int, list[Batch]] = {}
    for batch in client.batches.list(limit=100):
        meta = batch.metadata or {}
        if meta.get(RUN_METADATA_KEY) != run_key[:64] or batch.status in _NOT_ADOPTABLE:
            continue
        chunk = meta.get(CHUNK_METADATA_KEY, "")
        if chunk.isdigit():
            found.setdefault(int(chunk), []).insert(0, batch)
    return found


def reconcile(client: openai.OpenAI, ours: Batch, run_key: str, chunk: int) -> Batch:
    """After creating `ours`: when other workers created a job for the same run and chunk, every one of
    them adopts the earliest (each sees at least every job created before its own, so all agree) and the
    later ones are cancelled by their creators: one job runs and is billed, whoever submitted it."""
    earliest = next(iter(run_batches(client, run_key).get(chunk, [])), None)
    if earliest is None or earliest.id == ours.id:
        return ours
    logger.info("batch %s duplicates %s (same input, another worker): cancelling it", ours.id, earliest.id)
    try:
        client.batches.cancel(ours.id, extra_body={})  # the service refuses a bodiless JSON POST
    except openai.APIError as exc:
        logger.warning("could not cancel the duplicate batch %s: %s", ours.id, exc)
    return earliest


def file_exists(client: openai.OpenAI, file_id: str) -> bool:
    try:
        client.files.retrieve(file_id)
    except openai.NotFoundError:
        return False
    return True


def create_batch(
    client: openai.OpenAI,
    file_id: str,
    completion_window: str,
    metadata: dict[str, str],
    *,
    run_key: str,
    chunk: int,
) -> Batch:
    """Create a batch exactly once: the create call itself is never retried by the transport (a lost
    response would otherwise make a second, double-billed job); after a failure that may have reached
    the server we look for the job (by input file id, over all pages) before trying again."""
    creator = client.with_options(max_retries=0)
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return creator.batches.create(
                input_file_id=file_id,
                endpoint=BATCH_ENDPOINT,
                completion_window=completion_window,  # type: ignore[arg-type]
                metadata=metadata,
            )
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as exc:
            found = find_batch_for_file(client, file_id, run_key=run_key, chunk=chunk)
            if found is not None:
                return found
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            retry_after = getattr(exc, "retry_after", None)
            time.sleep(min(float(retry_after) if retry_after else 0.5 * 2**attempt, 10.0))
        except openai.APIStatusError as exc:
            if exc.status_code < 500:
                raise
            found = find_batch_for_file(client, file_id, run_key=run_key, chunk=chunk)
            if found is not None:
                return found
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover
