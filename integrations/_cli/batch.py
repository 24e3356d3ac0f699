"""`kluster-agents batch ...`: submit, follow, fetch results, cancel and list Batch API jobs.

Long waits show a rich progress bar; Ctrl-C stops waiting but leaves the job running, and says how to re-attach.
The engine is imported when a command runs, so `kluster-agents --help` stays fast.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from kluster_agents.integrations._cli._common import (
    FAILED_EXIT,
    InputLines,
    JsonFlag,
    PollInterval,
    WaitFlag,
    api_object,
    atomic_output,
    cli_client,
    cli_errors,
    console,
    err_console,
    print_json,
    reattach_on_ctrl_c,
    table,
    when,
)

if TYPE_CHECKING:
    from kluster_agents.integrations._jobs.batch.decode import BatchResult

DEFAULT_RESULTS = "batch-results-{batch_id}.jsonl"


def _check_output(path: Path | None) -> None:
    """Refuse an `-o` that cannot be written before anything is submitted or waited for (`None`: the
    default file in the current directory; '-': stdout)."""
    from kluster_agents.integrations._api.errors import KlusterInvalidRequestError

    if path is not None and str(path) == "-":
        return
    folder = (path.parent if path is not None else Path()) or Path()
    if path is not None and path.is_dir():
        raise KlusterInvalidRequestError(
            f"-o {path} is a directory; give a file path, e.g. -o {path / 'results.jsonl'}.", parameter="output"
        )
    if not folder.is_dir():
        raise KlusterInvalidRequestError(
            f"-o {path}: the folder {folder} does not exist; create it or pick another path.", parameter="output"
        )
    if not os.access(folder, os.W_OK) or (path is not None and path.exists() and not os.access(path, os.W_OK)):
        where = path if path is not None else f"the current folder ({Path.cwd()})"
        raise KlusterInvalidRequestError(
            f"Cannot write results to {where}: no write permission; pick another path with -o.", parameter="output"
        )


def _results_file(path: Path, again: str) -> AbstractContextManager[IO[str]]:
    advice = f"Free space there (or pick another disk with -o) and run `{again}`; nothing is resubmitted."
    return atomic_output(path, "the results file", advice)


UNFINISHED = ("failed", "expired", "cancelled")

batch_app = typer.Typer(help="Batch API jobs: submit, follow, fetch results, cancel, list.", no_args_is_help=True)


def _requests_from(
    file: Path | None, prompts: Path | None, model: str | None, lines: InputLines
) -> Iterator[dict[str, Any]]:
    """Chat requests from a JSONL file (chat bodies or batch lines) or a text file of prompts; each
    request's line number goes to `lines`."""
    from kluster_agents.integrations._api.errors import KlusterInvalidRequestError
    from kluster_agents.integrations._jobs.jsonl import iter_numbered_json_lines

    if (file is None) == (prompts is None):
        raise KlusterInvalidRequestError("Give either a JSONL FILE or --prompts FILE (one prompt per line).")
    if prompts is not None:
        if not model:
            raise KlusterInvalidRequestError(
                "--prompts needs --model, e.g. --model klusterai/Meta-Llama-3.3-70B-Instruct-Turbo."
            )
        try:
            with prompts.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        lines.numbers.append(number)
                        yield {"model": model, "messages": [{"role": "user", "content": line.rstrip("\n")}]}
        except UnicodeDecodeError as exc:
            raise KlusterInvalidRequestError(
                f"{prompts} is not UTF-8 text (byte {exc.start}: {exc.reason}); convert it first, e.g. "
                f"`iconv -f latin1 -t utf-8 {prompts} > prompts.txt`."
            ) from None
        return
    assert file is not None
    with file.open("rb") as handle:
        for number, request in iter_numbered_json_lines(handle, source=str(file)):
            nested = request.get("body")
            body = nested if isinstance(nested, dict) else request
            if model and not body.get("model"):
                body["model"] = model
            lines.numbers.append(number)
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
    file: Annotated[
        Path | None, typer.Argument(help="JSONL of chat requests or batch lines.", exists=True, dir_okay=False)
    ] = None,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="Text file, one prompt per line.", exists=True, dir_okay=False)
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model for --prompts / lines without one.")] = None,
    completion_window: Annotated[str, typer.Option(help="1h, 3h, 6h, 12h or 24h.")] = "24h",
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait with a progress bar and write the results (default file: see -o)."),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write results here (JSONL; '-' for stdout); implies --wait. Default with --wait: "
            + DEFAULT_RESULTS.replace("{", "<").replace("}", ">"),
        ),
    ] = None,
    journal: Annotated[bool, typer.Option(help="Journal the run so re-running it re-attaches.")] = True,
    strict_models: Annotated[
        bool,
        typer.Option(help="Refuse model names neither the catalog nor GET /v1/models knows, before uploading."),
    ] = True,
    poll_interval: PollInterval = None,
) -> None:
    """Validate, upload and submit a batch; with --wait, follow it and write results in input order.

    Exits 1 when any line failed, expired or was cancelled (the counts are printed)."""
    from kluster_agents.integrations._jobs.batch.submit import check_completion_window, submit_batch

    if output is not None and not wait:
        err_console.print(f"-o {output} given: waiting for the job to finish (as with --wait).", markup=False)
        wait = True
    lines = InputLines(str(file or prompts))
    with cli_errors(lines):
        check_completion_window(completion_window)
        if wait:
            _check_output(output)
        handle = submit_batch(
            _requests_from(file, prompts, model, lines),
            client=cli_client(),
            completion_window=completion_window,
            journal=None if journal else False,
            strict_models=strict_models,
            poll_interval=poll_interval,
        )
        with handle:
            ids = handle.batch_ids
            again = set(handle.reattached_ids)
            new = [i for i in ids if i not in again]
            # progress lines go to stderr when the results themselves go to stdout
            say = err_console if str(output) == "-" else console
            if again:
                say.print(
                    f"This input was submitted before: re-attached to batch {', '.join(sorted(again))} "
                    "(nothing re-uploaded; --no-journal submits it again).",
                    markup=False,
                )
            if new:
                say.print(
                    f"Submitted {len(handle):,} requests as {len(new)} batch job(s): {', '.join(new)}", markup=False
                )
            if not wait:
                say.print(f"Follow: kluster-agents batch status {ids[0]} --wait", markup=False)
                say.print(f"Results: kluster-agents batch results {ids[0]} -o results.jsonl", markup=False)
                return
            target = output or Path(DEFAULT_RESULTS.format(batch_id=ids[0]))
            with reattach_on_ctrl_c(*(f"kluster-agents batch results {i} --wait -o {target}" for i in ids)):
                handle.wait(progress=True)
            counts: Counter[str] = Counter()
            to_stdout = str(target) == "-"
            rerun = f"kluster-agents batch results {ids[0]} -o {target}"
            with nullcontext(None) if to_stdout else _results_file(target, rerun) as sink:
                for result in handle.iter_results():
                    counts[result.status] += 1
                    line = _result_line(result)
                    if sink is None:
                        typer.echo(line)
                    else:
                        sink.write(line + "\n")
        summary = ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items()))
        say.print(f"Done: {summary}. " + ("Results on stdout." if to_stdout else f"Results in {target}"), markup=False)
        _exit_on_unfinished(counts)


def _exit_on_unfinished(counts: Counter[str]) -> None:
    """Exit 1 with the counts on stderr when any line failed, expired or was cancelled."""
    bad = {status: counts[status] for status in UNFINISHED if counts.get(status)}
    if bad:
        total = sum(counts.values())
        detail = ", ".join(f"{n:,} {status}" for status, n in bad.items())
        err_console.print(f"Error: {detail} of {total:,} requests did not succeed.", markup=False)
        raise typer.Exit(FAILED_EXIT)


def _counts(batch: Any) -> list[str]:
    counts = batch.request_counts
    return [str(getattr(counts, k, "-")) if counts else "-" for k in ("completed", "failed", "total")]


def _batch_table(batches: list[Any]) -> Table:
    """Whole ids, status, done/failed/total and creation time: fits 80 columns."""
    grid = table(
        Column("batch id", no_wrap=True),
        Column("status", no_wrap=True),
        Column("done", justify="right", no_wrap=True),
        Column("failed", justify="right", no_wrap=True),
        Column("total", justify="right", no_wrap=True),
        Column("created", overflow="fold"),
    )
    for b in batches:
        grid.add_row(b.id, b.status, *_counts(b), when(b.created_at))
    return grid


def _batch_detail(batch: Any) -> Table:
    """One job as `field  value` lines (status, counts, files), readable at any width."""
    grid = table(Column(no_wrap=True), Column(overflow="fold"))
    grid.show_header = False
    done, failed, total = _counts(batch)
    for field, value in (
        ("batch id", batch.id),
        ("status", batch.status),
        ("requests", f"{done} done, {failed} failed, {total} total"),
        ("created", when(batch.created_at)),
        ("output file", batch.output_file_id or "-"),
        ("error file", batch.error_file_id or "-"),
    ):
        grid.add_row(field, value)
    return grid


@batch_app.command("status")
def batch_status(
    batch_id: str,
    wait: WaitFlag = False,
    poll_interval: PollInterval = None,
    as_json: JsonFlag = False,
) -> None:
    """Show one batch job (status, request counts, result files)."""
    from kluster_agents.integrations._jobs.polling import wait_for_batch

    with cli_errors():
        client = cli_client()
        if wait:
            with reattach_on_ctrl_c(f"kluster-agents batch status {batch_id} --wait"):
                batch = wait_for_batch(client, batch_id, poll_interval=poll_interval, progress=True)
        else:
            batch = client.batches.retrieve(batch_id)
    if as_json:
        print_json(api_object(batch))
    else:
        console.print(_batch_detail(batch))


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
    from kluster_agents.integrations._api.errors import KlusterInvalidRequestError
    from kluster_agents.integrations._jobs.jsonl import iter_remote_lines
    from kluster_agents.integrations._jobs.polling import TERMINAL_STATUSES, wait_for_batch

    with cli_errors():
        if output is not None:
            _check_output(output)
        client = cli_client()
        with reattach_on_ctrl_c(f"kluster-agents batch results {batch_id} --wait"):
            batch = (
                wait_for_batch(client, batch_id, poll_interval=poll_interval, progress=True)
                if wait
                else client.batches.retrieve(batch_id)
            )
        if batch.status not in TERMINAL_STATUSES:
            raise KlusterInvalidRequestError(f"Batch {batch_id} is still '{batch.status}'; add --wait to wait for it.")
        counts: Counter[str] = Counter()
        rerun = f"kluster-agents batch results {batch_id} -o {output}"
        with _results_file(output, rerun) if output and str(output) != "-" else nullcontext() as sink:
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
    with cli_errors():
        batch = cli_client().batches.cancel(batch_id)
        console.print(f"Batch {batch.id}: {batch.status}")


@batch_app.command("list")
def batch_list(limit: Annotated[int, typer.Option(min=1, max=100)] = 20, as_json: JsonFlag = False) -> None:
    """List your most recent batch jobs."""
    with cli_errors():
        batches = list(cli_client().batches.list(limit=limit).data)
    if as_json:
        print_json(api_object(batches))
    else:
        console.print(_batch_table(batches))
