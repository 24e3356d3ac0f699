"""`kluster-agents batch ...` and `kluster-agents finetune ...`: the job commands.

`batch_app` and `finetune_app` are typer apps mounted by the main CLI. Long waits show a rich
progress bar; Ctrl-C stops waiting but leaves the job running, and says how to re-attach.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import openai
import typer
from kluster_agents.integrations.batch import (
    TERMINAL_STATUSES,
    BatchResult,
    check_completion_window,
    submit_batch,
    wait_for_batch,
)
from kluster_agents.integrations.client import make_client, translate_errors
from kluster_agents.integrations.errors import KlusterError, KlusterInvalidRequestError
from kluster_agents.integrations.finetune import (
    Hyperparameters,
    cancel_finetune,
    create_finetune,
    get_finetune,
    list_finetunes,
    wait_for_finetune,
)
from kluster_agents.integrations.jsonl import iter_json_lines, iter_remote_lines
from kluster_agents.integrations.settings import KlusterSettings
from rich.console import Console
from rich.table import Column, Table

batch_app = typer.Typer(help="Batch API jobs: submit, follow, fetch results, cancel, list.", no_args_is_help=True)
finetune_app = typer.Typer(help="Fine-tuning jobs: create, follow, list, cancel.", no_args_is_help=True)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

PollInterval = Annotated[float | None, typer.Option(help="Seconds between polls (default: 1 s growing to 30 s).")]
WaitFlag = Annotated[bool, typer.Option("--wait", help="Follow the job until it finishes (progress bar).")]


def _client() -> openai.OpenAI:
    return make_client(KlusterSettings.load())


@contextmanager
def _cli_errors() -> Iterator[None]:
    """KlusterErrors become one red line and exit code 1 (no traceback)."""
    try:
        with translate_errors():
            yield
    except KlusterError as exc:
        console.print(f"[red]Error:[/red] {exc.message}")
        raise typer.Exit(1) from None


@contextmanager
def _reattach_on_ctrl_c(*commands: str) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        console.print("\n[yellow]Stopped waiting; the job is still running on kluster.ai.[/yellow] Re-attach with:")
        for command in commands:
            console.print(f"  {command}")
        raise typer.Exit(130) from None


def _when(timestamp: Any) -> str:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return "-"


# --- batch ----------------------------------------------------------------------------------------------


def _requests_from(file: Path | None, prompts: Path | None, model: str | None) -> Iterator[dict[str, Any]]:
    """Chat requests from a JSONL file (chat bodies or batch lines) or a text file of prompts."""
    if (file is None) == (prompts is None):
        raise KlusterInvalidRequestError("Give either a JSONL FILE or --prompts FILE (one prompt per line).")
    if prompts is not None:
        if not model:
            raise KlusterInvalidRequestError(
                "--prompts needs --model, e.g. --model klusterai/Meta-Llama-3.3-70B-Instruct-Turbo."
            )
        with prompts.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield {"model": model, "messages": [{"role": "user", "content": line.rstrip("\n")}]}
        return
    assert file is not None
    with file.open("rb") as handle:
        for request in iter_json_lines(handle, source=str(file)):
            body = request.get("body") if isinstance(request.get("body"), dict) else request
            if model and not body.get("model"):
                body["model"] = model
            yield request


def _result_line(result: BatchResult) -> str:
    record: dict[str, Any] = {"index": result.index, "custom_id": result.custom_id, "status": result.status}
    if result.response is not None:
        record["response"] = result.response.model_dump(mode="json", exclude_unset=True)
    if result.error is not None:
        record["error"] = result.error.message
    return json.dumps(record, ensure_ascii=False)


@batch_app.command("submit")
def batch_submit(
    file: Annotated[Path | None, typer.Argument(help="JSONL of chat requests or batch lines.", exists=True)] = None,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="Text file, one prompt per line.", exists=True)
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model for --prompts / lines without one.")] = None,
    completion_window: Annotated[str, typer.Option(help="1h, 3h, 6h, 12h or 24h.")] = "24h",
    wait: Annotated[bool, typer.Option("--wait", help="Wait with a progress bar and collect the results.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="With --wait: write results here (JSONL).")
    ] = None,
    journal: Annotated[bool, typer.Option(help="Journal the run so re-running it re-attaches.")] = True,
    poll_interval: PollInterval = None,
) -> None:
    """Validate, upload and submit a batch; with --wait, follow it and write results in input order."""
    with _cli_errors():
        check_completion_window(completion_window)
        handle = submit_batch(
            _requests_from(file, prompts, model),
            client=_client(),
            completion_window=completion_window,
            journal=None if journal else False,
            poll_interval=poll_interval,
        )
        with handle:
            ids = handle.batch_ids
            console.print(f"Submitted {len(handle):,} requests as {len(ids)} batch job(s): {', '.join(ids)}")
            if not wait:
                console.print(f"Follow: kluster-agents batch status {ids[0]} --wait")
                console.print(f"Results: kluster-agents batch results {ids[0]} -o results.jsonl")
                return
            with _reattach_on_ctrl_c(*(f"kluster-agents batch results {i} --wait -o results.jsonl" for i in ids)):
                handle.wait(progress=True)
            counts: Counter[str] = Counter()
            with output.open("w", encoding="utf-8") if output else nullcontext() as sink:
                for result in handle.iter_results():
                    counts[result.status] += 1
                    if sink is not None:
                        sink.write(_result_line(result) + "\n")
        summary = ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items()))
        console.print(f"Done: {summary}." + (f" Results in {output}" if output else ""))


def _batch_table(batches: list[Any]) -> Table:
    table = Table(
        Column("batch id", no_wrap=True),
        "status",
        "completed",
        "failed",
        "total",
        "created",
        Column("output file", no_wrap=True),
        Column("error file", no_wrap=True),
    )
    for b in batches:
        counts = b.request_counts
        table.add_row(
            b.id,
            b.status,
            *(str(getattr(counts, k, "-")) if counts else "-" for k in ("completed", "failed", "total")),
            _when(b.created_at),
            b.output_file_id or "-",
            b.error_file_id or "-",
        )
    return table


@batch_app.command("status")
def batch_status(
    batch_id: str,
    wait: WaitFlag = False,
    poll_interval: PollInterval = None,
) -> None:
    """Show one batch job (status, request counts, result files)."""
    with _cli_errors():
        client = _client()
        if wait:
            with _reattach_on_ctrl_c(f"kluster-agents batch status {batch_id} --wait"):
                batch = wait_for_batch(client, batch_id, poll_interval=poll_interval, progress=True)
        else:
            batch = client.batches.retrieve(batch_id)
        console.print(_batch_table([batch]))


@batch_app.command("results")
def batch_results(
    batch_id: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the result lines here (default: stdout).")
    ] = None,
    wait: WaitFlag = False,
    poll_interval: PollInterval = None,
) -> None:
    """Download a finished job's output and error lines (raw kluster.ai result objects, JSONL)."""
    with _cli_errors():
        client = _client()
        with _reattach_on_ctrl_c(f"kluster-agents batch results {batch_id} --wait"):
            batch = (
                wait_for_batch(client, batch_id, poll_interval=poll_interval, progress=True)
                if wait
                else client.batches.retrieve(batch_id)
            )
        if batch.status not in TERMINAL_STATUSES:
            raise KlusterInvalidRequestError(f"Batch {batch_id} is still '{batch.status}'; add --wait to wait for it.")
        counts: Counter[str] = Counter()
        with output.open("w", encoding="utf-8") if output else nullcontext() as sink:
            for kind, file_id in (("output", batch.output_file_id), ("error", batch.error_file_id)):
                for line in iter_remote_lines(client, file_id) if file_id else ():
                    if line.strip():
                        counts[kind] += 1
                        if sink is not None:
                            sink.write(line + "\n")
                        else:
                            typer.echo(line)
        summary = f"Batch {batch_id} ({batch.status}): {counts['output']:,} output and {counts['error']:,} error lines"
        (console if output else err_console).print(summary + (f" written to {output}." if output else "."))


@batch_app.command("cancel")
def batch_cancel(batch_id: str) -> None:
    """Cancel a running batch job (kluster.ai may take up to 10 minutes: status 'cancelling')."""
    with _cli_errors():
        batch = _client().batches.cancel(batch_id)
        console.print(f"Batch {batch.id}: {batch.status}")


@batch_app.command("list")
def batch_list(limit: Annotated[int, typer.Option(min=1, max=100)] = 20) -> None:
    """List your most recent batch jobs."""
    with _cli_errors():
        console.print(_batch_table(list(_client().batches.list(limit=limit).data)))


# --- fine-tuning ----------------------------------------------------------------------------------------


def _job_table(jobs: list[Any]) -> Table:
    table = Table(
        Column("job id", no_wrap=True),
        "status",
        Column("base model", no_wrap=True),
        Column("fine-tuned model", no_wrap=True),
        "trained tokens",
    )
    for job in jobs:
        table.add_row(
            job.id,
            job.status,
            job.model,
            job.fine_tuned_model or "-",
            f"{job.trained_tokens:,}" if job.trained_tokens else "-",
        )
    return table


def _follow_finetune(client: openai.OpenAI, job_id: str, poll_interval: float | None) -> None:
    with _reattach_on_ctrl_c(f"kluster-agents finetune status {job_id} --wait"):
        job = wait_for_finetune(job_id, client=client, poll_interval=poll_interval, progress=True)
    console.print(_job_table([job]))
    if job.fine_tuned_model:
        console.print(f"Use it: model={job.fine_tuned_model!r}")


@finetune_app.command("create")
def finetune_create(
    training_file: Annotated[str, typer.Argument(help="Chat-format JSONL path (validated, uploaded) or a file id.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Base model to fine-tune.")],
    nickname: Annotated[str | None, typer.Option(help="Suffix for the fine-tuned model's name.")] = None,
    n_epochs: Annotated[int | None, typer.Option("--epochs", min=1)] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    learning_rate_multiplier: Annotated[float | None, typer.Option("--lr-multiplier", min=0.0)] = None,
    validation_file: Annotated[str | None, typer.Option(help="Validation JSONL path or file id.")] = None,
    wait: WaitFlag = False,
    poll_interval: PollInterval = None,
) -> None:
    """Validate and upload a training file, then start a fine-tuning job."""
    with _cli_errors():
        client = _client()
        hyper = Hyperparameters(
            n_epochs=n_epochs, batch_size=batch_size, learning_rate_multiplier=learning_rate_multiplier
        )
        job = create_finetune(
            training_file,
            model=model,
            hyperparameters=hyper,
            nickname=nickname,
            validation_file=validation_file,
            client=client,
        )
        console.print(f"Created fine-tuning job {job.id} ({job.status}) on {job.model}.")
        if wait:
            _follow_finetune(client, job.id, poll_interval)
        else:
            console.print(f"Follow: kluster-agents finetune status {job.id} --wait")


@finetune_app.command("status")
def finetune_status(
    job_id: str,
    wait: WaitFlag = False,
    poll_interval: PollInterval = None,
) -> None:
    """Show one fine-tuning job (and its model name once it succeeded)."""
    with _cli_errors():
        client = _client()
        if wait:
            _follow_finetune(client, job_id, poll_interval)
        else:
            console.print(_job_table([get_finetune(job_id, client=client)]))


@finetune_app.command("list")
def finetune_list(limit: Annotated[int, typer.Option(min=1, max=100)] = 20) -> None:
    """List your fine-tuning jobs."""
    with _cli_errors():
        console.print(_job_table(list_finetunes(limit=limit, client=_client())))


@finetune_app.command("cancel")
def finetune_cancel(job_id: str) -> None:
    """Cancel a fine-tuning job."""
    with _cli_errors():
        job = cancel_finetune(job_id, client=_client())
        console.print(f"Fine-tuning job {job.id}: {job.status}")
