"""``modelyard project ...``"""

from __future__ import annotations

import click

from modelyard.cli import _render
from modelyard.cli._app import State, emit, emit_list, pass_state


@click.group()
def project() -> None:
    """Projects: the namespaces models live in."""


@project.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the project is for.")
@click.option("--owner", default="", help="Person or team responsible.")
@pass_state
def create(state: State, name: str, description: str, owner: str) -> None:
    """Create project NAME."""
    emit(state, state.client.create_project(name, description=description, owner=owner), _render.project)


@project.command("get")
@click.argument("name")
@pass_state
def get(state: State, name: str) -> None:
    """Show project NAME."""
    emit(state, state.client.get_project(name), _render.project)


@project.command("list")
@pass_state
def list_(state: State) -> None:
    """List every project."""
    emit_list(state, list(state.client.list_projects()), _render.projects, "no projects")


@project.command("summary")
@click.argument("name")
@click.option("--metric", default="", metavar="NAME", help="Also report the min and max of this metric.")
@pass_state
def summary(state: State, name: str, metric: str) -> None:
    """Counts of models and versions (by stage, by owner) in project NAME."""
    emit(state, state.client.project_summary(name, metric=metric), _render.summary)
