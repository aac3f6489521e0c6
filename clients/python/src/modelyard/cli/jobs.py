"""``modelyard jobs ...``: batch scoring jobs (JobService, on the deploy service)."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from modelyard import Job
from modelyard.cli import _render
from modelyard.cli._app import EXIT_INTERRUPTED, State, emit, emit_line, emit_list, pass_state, trust_type_option
from modelyard.cli._parsing import as_click, parse_inputs


def _follow(state: State, job: Job) -> Job:
    """Follows the job with a progress bar (rows and chunks) on stderr until it is finished."""
    if state.as_json:
        return state.client.wait_job(job.id)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bars:
        rows = bars.add_task("rows", total=job.rows_total or None)
        chunks = bars.add_task("chunks", total=job.chunks_total or None)
        for seen in state.client.watch_job(job.id):
            bars.update(rows, completed=seen.rows_done, description=f"rows ({seen.state})")
            bars.update(chunks, completed=seen.chunks_done)
            job = seen
    return job


@click.group()
def jobs() -> None:
    """Batch scoring: score a dataset version with a model version, register the predictions."""


@jobs.command()
@click.argument("reference")
@click.option("--dataset", required=True, help="Input dataset version, P/D:N (same project as the model).")
@click.option("--key", required=True, help="Key column, copied next to the predictions.")
@click.option("--output", required=True, help="Output dataset P/NAME (created if missing).")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    callback=as_click(parse_inputs, each=False),
    metavar="NAME=COLS",
    help="Model input NAME takes columns COLS (comma-separated, stacked in that order); repeatable.  "
    "[default: the model's one input takes every column but the key]",
)
@click.option(
    "--chunk-rows", type=click.IntRange(1, 10_000_000), default=None, help="Rows per chunk.  [default: 100000]"
)
@click.option("--workers", type=click.IntRange(1, 16), default=None, help="Predictor processes.  [default: 2]")
@trust_type_option("A type to trust in a skops file beyond skops' defaults (repeatable).")
@click.option("--wait", is_flag=True, help="Show progress until it finishes (exit 1 unless it SUCCEEDED).")
@pass_state
def run(
    state: State,
    reference: str,
    dataset: str,
    key: str,
    output: str,
    inputs: dict[str, tuple[str, ...]],
    chunk_rows: int | None,
    workers: int | None,
    trusted_types: tuple[str, ...],
    wait: bool,
) -> None:
    """Score dataset version --dataset with model version REFERENCE (p/m:3, p/m@alias, p/m)."""
    job = state.client.create_job(
        reference, dataset=dataset, key=key, output=output, inputs=inputs, chunk_rows=chunk_rows or 0,
        workers=workers or 0, trusted_types=trusted_types,
    )  # fmt: skip
    if wait:
        try:
            job = _follow(state, job)
        except KeyboardInterrupt:
            click.echo(f"job {job.id} goes on; follow it with: modelyard jobs watch {job.id}", err=True)
            click.get_current_context().exit(EXIT_INTERRUPTED)
    emit(state, job, _render.job)
    if wait and job.state.value != "SUCCEEDED":
        click.get_current_context().exit(1)


@jobs.command()
@click.argument("job_id", metavar="ID")
@pass_state
def get(state: State, job_id: str) -> None:
    """A job and its progress."""
    emit(state, state.client.get_job(job_id), _render.job)


@jobs.command("list")
@click.argument("project")
@pass_state
def list_(state: State, project: str) -> None:
    """A project's jobs, newest first."""
    emit_list(state, list(state.client.list_jobs(project)), _render.jobs, f"no jobs in project {project}")


@jobs.command()
@click.argument("job_id", metavar="ID")
@click.option("--reason", default="", help="Why (recorded).")
@pass_state
def cancel(state: State, job_id: str, reason: str) -> None:
    """Stop a queued or running job; nothing of its output is kept."""
    emit(state, state.client.cancel_job(job_id, reason=reason), _render.job)


@jobs.command()
@click.argument("job_id", metavar="ID")
@pass_state
def watch(state: State, job_id: str) -> None:
    """One line per change of the job until it is finished (or Ctrl-C)."""
    try:
        for job in state.client.watch_job(job_id):
            emit_line(state, job, _render.job_line)
    except KeyboardInterrupt:
        click.get_current_context().exit(EXIT_INTERRUPTED)
