"""``modelyard model ...``"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import click

from modelyard import ModelFields, ModelKind
from modelyard.cli import _render
from modelyard.cli._app import State, emit, emit_list, pass_state, reason_option
from modelyard.cli._parsing import as_click, parse_location, parse_tags

_KINDS = [k.value.lower() for k in ModelKind if k is not ModelKind.UNSPECIFIED]


def _model_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The settable model fields; on update only the options given are written."""
    options = [
        click.option("--description", default=None, help="What the model does."),
        click.option("--owner", default=None, help="Person responsible for the model."),
        click.option("--team", default=None, help="Team owning the model (summaries group by it)."),
        click.option("--kind", type=click.Choice(_KINDS, case_sensitive=False), default=None,
                     help="[default: standard]"),
        click.option(
            "--tag", "tags", multiple=True, metavar="KEY=VALUE", callback=as_click(parse_tags, each=False),
            help="A tag; repeat for more. On update, replaces all tags.",
        ),
        click.option(
            "--code", callback=as_click(parse_location), metavar="URI[#revision=REV&path=PATH]",
            help="Where the model's code lives.",
        ),
        click.option("--data", callback=as_click(parse_location), metavar="URI[#revision=REV&path=PATH]",
                     help="Where its training data lives."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _fields(options: dict[str, Any]) -> ModelFields:
    """The fields whose option was given."""
    fields = {
        "description": options["description"],
        "owner": options["owner"],
        "team": options["team"],
        "kind": options["kind"],
        "tags": options["tags"] or None,
        "code_location": options["code"],
        "data_location": options["data"],
    }
    return cast(ModelFields, {k: v for k, v in fields.items() if v is not None})


@click.group()
def model() -> None:
    """Models: PROJECT/MODEL, each with numbered versions."""


@model.command("create")
@click.argument("name", metavar="PROJECT/MODEL")
@_model_options
@pass_state
def create(state: State, /, name: str, **options: Any) -> None:
    """Create model PROJECT/MODEL."""
    emit(state, state.client.create_model(name, **_fields(options)), _render.model)


@model.command("get")
@click.argument("name", metavar="PROJECT/MODEL")
@pass_state
def get(state: State, name: str) -> None:
    """Show a model, its aliases and latest version number."""
    emit(state, state.client.get_model(name), _render.model)


@model.command("list")
@click.argument("project")
@click.option("--archived", is_flag=True, help="Include archived models.")
@pass_state
def list_(state: State, project: str, archived: bool) -> None:
    """List the models of PROJECT."""
    hidden = "" if archived else " (--archived shows the archived ones)"
    found = list(state.client.list_models(project, include_archived=archived))
    emit_list(state, found, _render.models, f"no models in project {project}{hidden}")


@model.command("update")
@click.argument("name", metavar="PROJECT/MODEL")
@_model_options
@reason_option
@pass_state
def update(state: State, /, name: str, reason: str, **options: Any) -> None:
    """Change the fields given as options, and only those."""
    fields = _fields(options)
    if not fields:
        raise click.UsageError("nothing to update: give at least one option (see --help)")
    emit(state, state.client.update_model(name, reason=reason, **fields), _render.model)


@model.command("archive")
@click.argument("name", metavar="PROJECT/MODEL")
@reason_option
@pass_state
def archive(state: State, name: str, reason: str) -> None:
    """Archive a model: no new versions; hidden from lists unless --archived."""
    emit(state, state.client.archive_model(name, reason=reason), _render.model)
