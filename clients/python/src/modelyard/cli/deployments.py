"""``modelyard deploy``, ``modelyard deployments ...`` and ``modelyard rollback`` (deploy service)."""

from __future__ import annotations

import dataclasses

import click

from modelyard import Deployment
from modelyard.cli import _render
from modelyard.cli._app import EXIT_INTERRUPTED, State, emit, emit_line, emit_list, pass_state, trust_type_option

_WAIT_HELP = "Wait until it is AVAILABLE (exit 1 if it FAILS)."


def _finish(state: State, deployment: Deployment, wait: bool, wait_timeout: float) -> None:
    if wait:
        waited = state.client.wait_deployment(deployment.name, timeout=wait_timeout)
        deployment = dataclasses.replace(waited, created_revision=deployment.created_revision)
    emit(state, deployment, _render.deployment)


_wait_options = [
    click.option("--wait", is_flag=True, help=_WAIT_HELP),
    click.option(
        "--wait-timeout", type=float, default=300.0, show_default=True, help="Seconds --wait waits before giving up."
    ),
]


def _with_wait(command: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_wait_options):
        command = option(command)
    return command


@click.command()
@click.argument("name")
@click.argument("reference")
@click.option("--replicas", type=click.IntRange(0, 16), help="Inference servers to run.  [default: 1 when created]")
@click.option(
    "--runtime",
    type=click.Choice(["process", "kubernetes"], case_sensitive=False),
    help="Where they run (when created).  [default: the service's]",
)
@click.option("--reason", default="", help="Why (recorded with the new revision).")
@trust_type_option(
    "A type to trust in a skops file beyond skops' defaults (repeatable; when updating, replaces "
    "the trusted types, which are kept if none is given)."
)
@_with_wait
@pass_state
def deploy(
    state: State,
    name: str,
    reference: str,
    replicas: int | None,
    runtime: str | None,
    reason: str,
    trusted_types: tuple[str, ...],
    wait: bool,
    wait_timeout: float,
) -> None:
    """Serve REFERENCE (p/m:3, p/m@alias, p/m) as deployment NAME. An existing deployment rolls
    forward to it: the new replicas are ready before the old ones stop.

    \b
    Example, a skops file holding types skops does not trust by default:
      modelyard deploy scorer fraud/scorer:3 --trust-type sklearn.pipeline.Pipeline
    """
    deployment = state.client.deploy(
        name, reference, replicas=replicas, runtime=runtime, reason=reason, trusted_types=trusted_types or None
    )
    _finish(state, deployment, wait, wait_timeout)


@click.command()
@click.argument("name")
@click.option("--revision", type=click.IntRange(min=0), default=0, help="Revision to serve again; 0: the previous one.")
@click.option("--reason", default="", help="Why (recorded with the new revision).")
@_with_wait
@pass_state
def rollback(state: State, name: str, revision: int, reason: str, wait: bool, wait_timeout: float) -> None:
    """Serve the version of an earlier revision of NAME again, as a new revision."""
    deployment = state.client.rollback_deployment(name, revision=revision, reason=reason)
    _finish(state, deployment, wait, wait_timeout)


@click.group()
def deployments() -> None:
    """List, inspect, follow, scale and delete deployments."""


@deployments.command("list")
@click.option("--project", default="", help="Only the deployments of this project.")
@pass_state
def list_(state: State, project: str) -> None:
    """Every deployment, by name."""
    where = f" of project {project}" if project else ""
    emit_list(
        state, list(state.client.list_deployments(project=project)), _render.deployments, f"no deployments{where}"
    )


@deployments.command()
@click.argument("name")
@pass_state
def get(state: State, name: str) -> None:
    """A deployment, its replicas and endpoints."""
    emit(state, state.client.get_deployment(name), _render.deployment)


@deployments.command()
@click.argument("name")
@pass_state
def revisions(state: State, name: str) -> None:
    """The revisions of a deployment, newest first."""
    emit(state, list(state.client.deployment_revisions(name)), _render.revisions)


@deployments.command()
@click.argument("name")
@pass_state
def watch(state: State, name: str) -> None:
    """One line per change of NAME until it is deleted (or Ctrl-C)."""
    try:
        for deployment in state.client.watch_deployment(name):
            emit_line(state, deployment, _render.deployment_line)
    except KeyboardInterrupt:
        click.get_current_context().exit(EXIT_INTERRUPTED)


@deployments.command()
@click.argument("name")
@click.argument("replicas", type=click.IntRange(0, 16))
@_with_wait
@pass_state
def scale(state: State, name: str, replicas: int, wait: bool, wait_timeout: float) -> None:
    """Run REPLICAS inference servers for NAME (0 stops them all and keeps the deployment)."""
    _finish(state, state.client.update_deployment(name, replicas=replicas), wait, wait_timeout)


@deployments.command()
@click.argument("name")
@pass_state
def delete(state: State, name: str) -> None:
    """Stop every replica of NAME (gone when this returns) and forget it."""
    state.client.delete_deployment(name)
    emit(state, {"deleted": name}, lambda _: f"deleted deployment {name}")
