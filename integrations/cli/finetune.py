"""`kluster-agents finetune ...`: create, follow, list and cancel fine-tuning jobs."""

from __future__ import annotations

from typing import Annotated, Any

import openai
import typer
from rich.table import Column, Table

from kluster_agents.integrations.cli._common import (
    PollInterval,
    WaitFlag,
    cli_client,
    cli_errors,
    console,
    reattach_on_ctrl_c,
)
from kluster_agents.integrations.jobs.finetune import (
    Hyperparameters,
    cancel_finetune,
    create_finetune,
    get_finetune,
    list_finetunes,
    wait_for_finetune,
)

finetune_app = typer.Typer(help="Fine-tuning jobs: create, follow, list, cancel.", no_args_is_help=True)


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
    with reattach_on_ctrl_c(f"kluster-agents finetune status {job_id} --wait"):
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
    with cli_errors():
        client = cli_client()
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
    with cli_errors():
        client = cli_client()
        if wait:
            _follow_finetune(client, job_id, poll_interval)
        else:
            console.print(_job_table([get_finetune(job_id, client=client)]))


@finetune_app.command("list")
def finetune_list(limit: Annotated[int, typer.Option(min=1, max=100)] = 20) -> None:
    """List your fine-tuning jobs."""
    with cli_errors():
        console.print(_job_table(list_finetunes(limit=limit, client=cli_client())))


@finetune_app.command("cancel")
def finetune_cancel(job_id: str) -> None:
    """Cancel a fine-tuning job."""
    with cli_errors():
        job = cancel_finetune(job_id, client=cli_client())
        console.print(f"Fine-tuning job {job.id}: {job.status}")
