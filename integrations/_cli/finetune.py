"""`kluster-agents finetune ...`: create, follow, list and cancel fine-tuning jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from kluster_agents.integrations._cli._common import (
    JsonFlag,
    PollInterval,
    WaitFlag,
    api_object,
    cli_client,
    cli_errors,
    console,
    print_json,
    reattach_on_ctrl_c,
    table,
)

if TYPE_CHECKING:
    import openai

finetune_app = typer.Typer(help="Fine-tuning jobs: create, follow, list, cancel.", no_args_is_help=True)


def _job_table(jobs: list[Any]) -> Table:
    """Full job ids (they are what the other commands take); model names wrap rather than cut."""
    grid = table(
        Column("job id", no_wrap=True),
        Column("status", no_wrap=True),
        Column("model -> fine-tuned model", overflow="fold"),
        Column("tokens", justify="right", no_wrap=True),
    )
    for job in jobs:
        models = job.model + (f"\n-> {job.fine_tuned_model}" if job.fine_tuned_model else "")
        grid.add_row(job.id, job.status, models, f"{job.trained_tokens:,}" if job.trained_tokens else "-")
    return grid


def _follow_finetune(client: openai.OpenAI, job_id: str, poll_interval: float | None) -> None:
    from kluster_agents.integrations._jobs.finetune import wait_for_finetune

    with reattach_on_ctrl_c(f"kluster-agents finetune status {job_id} --wait"):
        job = wait_for_finetune(job_id, client=client, poll_interval=poll_interval, progress=True)
    console.print(_job_table([job]))
    if job.fine_tuned_model:
        console.print(f"Use it: model={job.fine_tuned_model!r}", markup=False)


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
    from kluster_agents.integrations._jobs.finetune import Hyperparameters, create_finetune

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
    as_json: JsonFlag = False,
) -> None:
    """Show one fine-tuning job (and its model name once it succeeded)."""
    from kluster_agents.integrations._jobs.finetune import get_finetune, wait_for_finetune

    with cli_errors():
        client = cli_client()
        if as_json:
            job = (
                wait_for_finetune(job_id, client=client, poll_interval=poll_interval)
                if wait
                else get_finetune(job_id, client=client)
            )
            print_json(api_object(job))
        elif wait:
            _follow_finetune(client, job_id, poll_interval)
        else:
            console.print(_job_table([get_finetune(job_id, client=client)]))


@finetune_app.command("list")
def finetune_list(limit: Annotated[int, typer.Option(min=1, max=100)] = 20, as_json: JsonFlag = False) -> None:
    """List your fine-tuning jobs."""
    from kluster_agents.integrations._jobs.finetune import list_finetunes

    with cli_errors():
        jobs = list(list_finetunes(limit=limit, client=cli_client()))
    if as_json:
        print_json(api_object(jobs))
    else:
        console.print(_job_table(jobs))


@finetune_app.command("cancel")
def finetune_cancel(job_id: str) -> None:
    """Cancel a fine-tuning job."""
    from kluster_agents.integrations._jobs.finetune import cancel_finetune

    with cli_errors():
        job = cancel_finetune(job_id, client=cli_client())
        console.print(f"Fine-tuning job {job.id}: {job.status}")
