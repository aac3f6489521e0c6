"""``modelyard metrics ...``, ``modelyard stage ...``, ``modelyard alias ...``"""

from __future__ import annotations

from typing import Any

import click

from modelyard.cli import _render
from modelyard.cli._app import State, emit, pass_state, reason_option
from modelyard.cli._parsing import as_click, load_metrics_json, parse_metrics
from modelyard.cli.versions import _STAGES


@click.group()
def metrics() -> None:
    """Metrics of a version: scalars (accuracy) and structured ones (feature importance)."""


@metrics.command("log")
@click.argument("reference", metavar="REF")
@click.option(
    "--metric",
    "metric_values",
    multiple=True,
    metavar="NAME=VALUE",
    callback=as_click(parse_metrics, each=False),
    help="A number (accuracy=0.93) or a JSON object (importance='{\"age\": 0.3}'); repeat for more.",
)
@click.option(
    "--metrics-json",
    "metrics_file",
    metavar="FILE",
    callback=as_click(load_metrics_json),
    help='A JSON file ("-": stdin) of name -> number or object.',
)
@click.option("--step", type=int, default=0, show_default=True, help="Training step or evaluation round.")
@pass_state
def log(state: State, reference: str, metric_values: dict[str, Any], metrics_file: dict[str, Any] | None, step: int
) -> None:  # fmt: skip
    """Record metric values for a version; history is kept, the version shows the latest."""
    values = {**(metrics_file or {}), **metric_values}
    if not values:
        raise click.UsageError("no metrics: give --metric NAME=VALUE or --metrics-json FILE")
    emit(state, state.client.log_metrics(reference, values, step=step), _render.version)


@metrics.command("history")
@click.argument("reference", metavar="REF")
@click.argument("name")
@pass_state
def history(state: State, reference: str, name: str) -> None:
    """Every value of metric NAME logged for a version, oldest first."""
    emit(state, state.client.metric_history(reference, name), _render.metric_history)


@click.group()
def stage() -> None:
    """Lifecycle stage: development -> validation -> production -> archived."""


@stage.command("set")
@click.argument("reference", metavar="REF")
@click.argument("new_stage", metavar="STAGE", type=click.Choice(_STAGES, case_sensitive=False))
@reason_option
@pass_state
def set_stage(state: State, reference: str, new_stage: str, reason: str) -> None:
    """Move a version to STAGE (validation and production need a READY version).

    \b
    Allowed: development -> validation | archived
             validation  -> production | development | archived
             production  -> archived | validation
             archived    -> development
    """
    emit(state, state.client.transition_stage(reference, new_stage, reason=reason), _render.version)


@click.group()
def alias() -> None:
    """Aliases: names (champion, staging...) pointing at one version of a model."""


@alias.command("set")
@click.argument("model", metavar="PROJECT/MODEL")
@click.argument("name", metavar="ALIAS")
@click.argument("number", metavar="VERSION", type=click.IntRange(min=1))
@reason_option
@pass_state
def set_alias(state: State, model: str, name: str, number: int, reason: str) -> None:
    """Point ALIAS of a model at VERSION, creating or moving it."""
    emit(state, state.client.set_alias(model, name, number, reason=reason), _render.alias_change)


@alias.command("delete")
@click.argument("model", metavar="PROJECT/MODEL")
@click.argument("name", metavar="ALIAS")
@reason_option
@pass_state
def delete_alias(state: State, model: str, name: str, reason: str) -> None:
    """Delete ALIAS of a model."""
    emit(state, state.client.delete_alias(model, name, reason=reason), _render.alias_change)
