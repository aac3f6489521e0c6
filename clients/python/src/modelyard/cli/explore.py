"""``modelyard search``, ``modelyard lineage``, ``modelyard compare``"""

from __future__ import annotations

import click

from modelyard import LineageDirection
from modelyard.cli import _render
from modelyard.cli._app import State, emit, emit_list, pass_state

_DIRECTIONS = [d.value.lower() for d in LineageDirection if d is not LineageDirection.UNSPECIFIED]


@click.command()
@click.argument("filter_", metavar="[FILTER]", default="", required=False)
@click.option("--order-by", default="", metavar="KEYS", help='e.g. "metrics.accuracy DESC".  [default: created DESC]')
@click.option("--project", default="", help="Only versions of this project.")
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True, help="At most this many; 0: all.")
@pass_state
def search(state: State, filter_: str, order_by: str, project: str, limit: int) -> None:
    """Find versions matching FILTER (all when omitted).

    \b
    Examples:
      modelyard search 'stage = "PRODUCTION" AND metrics.accuracy >= 0.9'
      modelyard search 'tags.team IN ("risk", "fraud")' --order-by "metrics.auc DESC" --limit 5
    """
    found = list(state.client.search_versions(filter_, order_by=order_by, project=project, limit=limit or None))
    where = (f" {filter_!r}" if filter_ else "") + (f" in project {project}" if project else "")
    emit_list(state, found, _render.versions, f"no versions match{where}")
    if limit and len(found) == limit and not state.as_json:
        click.echo(f"(first {limit} shown; --limit 0 for all)", err=True)


@click.command()
@click.argument("reference", metavar="REF")
@click.option("--direction", type=click.Choice(_DIRECTIONS, case_sensitive=False), default="both", show_default=True,
              help="upstream: what it is produced by; downstream: what it feeds.")  # fmt: skip
@click.option("--depth", type=click.IntRange(1, 50), default=10, show_default=True, help="Hops to follow.")
@pass_state
def lineage(state: State, reference: str, direction: str, depth: int) -> None:
    """The versions a version is produced by, and those produced by it."""
    emit(state, state.client.lineage(reference, direction=direction, depth=depth), _render.lineage)


@click.command()
@click.argument("references", metavar="REF REF...", nargs=-1, required=True)
@click.option("--diff-only", is_flag=True, help="Show only the rows whose values differ.")
@pass_state
def compare(state: State, references: tuple[str, ...], diff_only: bool) -> None:
    """Params, metrics and metadata of 2 to 20 versions side by side.

    Rows whose values differ are marked with * and highlighted.
    """
    if len(references) < 2:
        raise click.UsageError("compare needs at least two references")
    result = state.client.compare(references)
    emit(state, result, lambda c: _render.comparison(c, only_differences=diff_only))
