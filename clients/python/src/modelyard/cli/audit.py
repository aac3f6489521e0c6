"""``modelyard audit``"""

from __future__ import annotations

from datetime import datetime

import click

from modelyard.cli import _render
from modelyard.cli._app import EXIT_INTERRUPTED, State, emit_line, emit_list, pass_state
from modelyard.cli._parsing import as_click, parse_since


@click.command()
@click.option("--project", default="", help="Only events of this project.")
@click.option(
    "--resource", default="", metavar="PREFIX", help="Only events of resources starting so, e.g. fraud/scorer."
)
@click.option("--actor", default="", help="Only events made by this actor.")
@click.option("--since", callback=as_click(parse_since), metavar="WHEN", help="2h, 30m, 7d ago, or an ISO 8601 time.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="At most this many; 0: all.")
@click.option("--follow", "-f", is_flag=True, help="Then print new events as they happen, until Ctrl-C.")
@pass_state
def audit(
    state: State, project: str, resource: str, actor: str, since: datetime | None, limit: int, follow: bool
) -> None:
    """The audit log: who changed what, when, and why. Newest first; with --follow, the recent
    events oldest first, then new ones as they are committed."""
    client = state.client
    events = list(
        client.audit_events(project=project, resource=resource, actor=actor, since=since, limit=limit or None)
    )
    if not follow:
        emit_list(state, events, _render.audit_events, "no audit events match")
        return
    for event in reversed(events):
        emit_line(state, event, _render.audit_line)
    # Resume right after the newest event shown, so nothing is missed or printed twice.
    after_id = max((e.id for e in events), default=0)
    try:
        for event in client.watch_events(project=project, resource=resource, after_id=after_id):
            if not actor or event.actor == actor:
                emit_line(state, event, _render.audit_line)
    except KeyboardInterrupt:
        click.get_current_context().exit(EXIT_INTERRUPTED)
