"""``modelyard webhooks ...``: a project's webhook subscriptions, their delivery log, secrets,
redeliveries and test pings (a project ADMIN's)."""

from __future__ import annotations

from collections.abc import Sequence

import click
from rich.console import RenderableType
from rich.text import Text

from modelyard._webhook_types import WEBHOOK_KINDS, NewWebhookSecret, PingResult, WebhookDelivery, WebhookSubscription
from modelyard.cli._app import State, emit, emit_list, pass_state
from modelyard.cli._render import _details, _group, _minutes, _table

_kind_option = click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(WEBHOOK_KINDS),
    help="An event kind to send (repeat for more).  [default: every kind]",
)


def render_subscription(s: WebhookSubscription) -> RenderableType:
    return _details(
        [
            ("id", s.id),
            ("project", s.project),
            ("url", s.url),
            ("kinds", ", ".join(s.kinds) or "all"),
            ("description", s.description),
            ("active", "yes" if s.active else "no (events are not queued)"),
            ("failing", "yes: the receiver keeps failing; see `modelyard webhooks deliveries`" if s.failing else ""),
            ("backlog", s.backlog),
            ("created by", s.created_by),
            ("created", s.created_at),
            ("previous secret signs until", s.previous_secret_expires_at),
        ]
    )


def render_new_secret(n: NewWebhookSecret) -> RenderableType:
    hint = Text("The signing secret is shown only now; give it to the receiver:\n", style="bold")
    hint.append(f"  {n.secret}", style="")
    return _group(render_subscription(n.subscription), Text(""), hint)


def render_subscriptions(items: Sequence[WebhookSubscription]) -> RenderableType:
    table = _table("ID", "URL", "KINDS", "ACTIVE", "FAILING", "BACKLOG")
    for s in items:
        failing = Text("yes", style="red") if s.failing else Text("")
        active = Text("yes" if s.active else "no")
        table.add_row(Text(s.id), Text(s.url), Text(", ".join(s.kinds) or "all"), active, failing, Text(str(s.backlog)))
    return table


def render_deliveries(items: Sequence[WebhookDelivery]) -> RenderableType:
    table = _table("DELIVERY", "EVENT", "KIND", "STATE", "ATTEMPTS", "CODE", "ERROR", "LAST TRY", "NEXT TRY")
    for d in items:
        table.add_row(
            Text(d.id),
            Text(str(d.event_id)),
            Text(d.kind),
            Text(d.state, style="green" if d.state == "DELIVERED" else "yellow"),
            Text(str(d.attempts)),
            Text(str(d.response_code or "")),
            Text(d.error),
            _minutes(d.last_attempt_at),
            _minutes(d.next_attempt_at),
        )
    return table


def render_delivery(d: WebhookDelivery) -> RenderableType:
    return _details([("delivery", d.id), ("event", d.event_id), ("kind", d.kind), ("state", d.state)])


def render_ping(p: PingResult) -> RenderableType:
    answer = f"HTTP {p.response_code}" if p.response_code else f"no answer: {p.error}"
    return Text(f"{answer} in {p.seconds:.3f} s")


@click.group()
def webhooks() -> None:
    """Webhooks: a project's events (new versions, READY, stage changes, alias moves) POSTed as
    signed JSON to a URL, in order, retried until the receiver answers 2xx (docs/scoring.md)."""


@webhooks.command("create")
@click.argument("project")
@click.argument("url")
@_kind_option
@click.option("--description", default="", help="What it is for.")
@pass_state
def create(state: State, project: str, url: str, kinds: tuple[str, ...], description: str) -> None:
    """Subscribe URL to PROJECT's events, and print the signing secret: shown this once only."""
    emit(state, state.client.create_webhook(project, url, kinds=kinds, description=description), render_new_secret)


@webhooks.command("list")
@click.argument("project")
@pass_state
def list_(state: State, project: str) -> None:
    """List PROJECT's subscriptions."""
    emit_list(state, state.client.webhooks(project), render_subscriptions, "no webhooks")


@webhooks.command("get")
@click.argument("id")
@pass_state
def get(state: State, id: str) -> None:
    """Show subscription ID."""
    emit(state, state.client.get_webhook(id), render_subscription)


@webhooks.command("update")
@click.argument("id")
@click.option("--url", default=None, help="A new URL.")
@_kind_option
@click.option("--all-kinds", is_flag=True, help="Send every kind of event from now on.")
@click.option("--active/--inactive", default=None, help="Queue events again, or stop queueing them.")
@click.option("--description", default=None, help="A new description.")
@pass_state
def update(
    state: State,
    id: str,
    url: str | None,
    kinds: tuple[str, ...],
    all_kinds: bool,
    active: bool | None,
    description: str | None,
) -> None:
    """Change subscription ID; what is not given is kept."""
    if kinds and all_kinds:
        raise click.UsageError("--kind and --all-kinds exclude each other")
    new_kinds = () if all_kinds else (kinds or None)
    changed = state.client.update_webhook(id, url=url, kinds=new_kinds, active=active, description=description)
    emit(state, changed, render_subscription)


@webhooks.command("delete")
@click.argument("id")
@pass_state
def delete(state: State, id: str) -> None:
    """Delete subscription ID and its delivery log."""
    state.client.delete_webhook(id)
    emit(state, {"deleted": id}, lambda _: Text(f"deleted webhook {id}"))


@webhooks.command("rotate-secret")
@click.argument("id")
@pass_state
def rotate_secret(state: State, id: str) -> None:
    """A new signing secret, shown this once; the previous one keeps signing beside it for a
    while (see "previous secret signs until"), so that the receiver can switch."""
    emit(state, state.client.rotate_webhook_secret(id), render_new_secret)


@webhooks.command("deliveries")
@click.argument("id")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="At most this many; 0: all.")
@pass_state
def deliveries(state: State, id: str, limit: int) -> None:
    """The delivery log of subscription ID, newest first."""
    found = list(state.client.webhook_deliveries(id, limit=limit or None))
    emit_list(state, found, render_deliveries, "no deliveries")


@webhooks.command("redeliver")
@click.argument("id")
@click.argument("event_id", type=int)
@pass_state
def redeliver(state: State, id: str, event_id: int) -> None:
    """Send audit event EVENT_ID to subscription ID again (next, before later events)."""
    emit(state, state.client.redeliver_webhook(id, event_id), render_delivery)


@webhooks.command("ping")
@click.argument("id")
@pass_state
def ping(state: State, id: str) -> None:
    """Send a signed "ping" event to subscription ID's URL now, and print the answer."""
    emit(state, state.client.ping_webhook(id), render_ping)
