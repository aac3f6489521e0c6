"""``modelyard version ...``"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, cast

import click

from modelyard import DependencyScope, EnsembleMethod, Serving, Signature, Stage, VersionFields
from modelyard.cli import _render
from modelyard.cli._app import State, emit, emit_list, pass_state, reason_option
from modelyard.cli._parsing import as_click, parse_dependency, parse_location, parse_params, parse_tags, parse_tensor

_STAGES = [s.value.lower() for s in Stage if s is not Stage.UNSPECIFIED]
_LOCATION = "URI[#revision=REV&path=PATH]"
_METHODS = [m.value.lower() for m in EnsembleMethod if m is not EnsembleMethod.UNSPECIFIED]


def _version_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The settable version fields; on update only the options given are written, and a
    repeatable option given replaces the whole field (all inputs and outputs, all params...)."""
    options = [
        click.option("--framework", default=None, help="e.g. sklearn, onnx, pytorch, xgboost, custom."),
        click.option("--format", "payload_format", default=None, help="Payload format: skops, onnx, pt, pkl, json..."),
        click.option("--author", default=None, help="Who trained it."),
        click.option("--description", default=None),
        click.option("--input", "inputs", multiple=True, metavar="NAME:DATATYPE:SHAPE", callback=as_click(parse_tensor),
                     help="An input tensor, e.g. features:FP32:-1,4 (-1: any size); repeat for more."),
        click.option("--output", "outputs", multiple=True, metavar="NAME:DATATYPE:SHAPE",
                     callback=as_click(parse_tensor), help="An output tensor, as --input."),
        click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                     callback=as_click(parse_params, each=False),
                     help="A hyperparameter; the value is read as JSON when it can be (6, 0.1, true, [1,2])."),
        click.option("--dep", "deps", multiple=True, metavar="REQUIREMENT", callback=as_click(parse_dependency),
                     help="A run-time dependency, e.g. scikit-learn==1.5.2 or 'numpy>=1.26,<3'."),
        click.option("--build-dep", "build_deps", multiple=True, metavar="REQUIREMENT",
                     callback=as_click(partial(parse_dependency, scope=DependencyScope.BUILD)),
                     help="A dependency needed only to build (train) the model."),
        click.option("--produced-by", "produced_by", multiple=True, metavar="REF",
                     help="A version whose output this one consumes, e.g. fraud/features:3."),
        click.option("--code", callback=as_click(parse_location), metavar=_LOCATION, help="Where the code lives."),
        click.option("--data", callback=as_click(parse_location), metavar=_LOCATION, help="Where the data lives."),
        click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", callback=as_click(parse_tags, each=False),
                     help="A tag; repeat for more."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _serving_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How a new version is served (fixed at creation): CUSTOM models need --entry-point,
    ENSEMBLE models --ensemble and --member."""
    options = [
        click.option("--entry-point", default=None, metavar="MODULE:ATTR",
                     help="CUSTOM models: the predictor in the artifact's code, e.g. predictor:Model."),
        click.option("--ensemble", "ensemble_method", type=click.Choice(_METHODS, case_sensitive=False),
                     default=None, help="ENSEMBLE models: how the members' outputs combine."),
        click.option("--member", "members", multiple=True, metavar="REF",
                     help="ENSEMBLE models: a READY member version, in order; repeat for more."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _serving(options: dict[str, Any]) -> Serving | None:
    entry_point, method, members = options.get("entry_point"), options.get("ensemble_method"), options.get("members")
    if not (entry_point or method or members):
        return None
    return Serving(
        entry_point=entry_point or "",
        ensemble_method=EnsembleMethod.parse(method) if method else EnsembleMethod.UNSPECIFIED,
        members=tuple(members or ()),
    )


def _fields(options: dict[str, Any]) -> VersionFields:
    """The fields whose options were given."""
    inputs, outputs = options["inputs"], options["outputs"]
    dependencies = options["deps"] + options["build_deps"]
    fields = {
        "framework": options["framework"],
        "payload_format": options["payload_format"],
        "author": options["author"],
        "description": options["description"],
        "signature": Signature(inputs=inputs, outputs=outputs) if inputs or outputs else None,
        "hyperparameters": options["params"] or None,
        "dependencies": dependencies or None,
        "produced_by": options["produced_by"] or None,
        "code_location": options["code"],
        "data_location": options["data"],
        "tags": options["tags"] or None,
        "serving": _serving(options),
    }
    return cast(VersionFields, {k: v for k, v in fields.items() if v is not None})


@click.group()
def version() -> None:
    """Versions: PROJECT/MODEL:N, with signature, params, dependencies, metrics, artifact."""


@version.command("create")
@click.argument("model", metavar="PROJECT/MODEL")
@_version_options
@_serving_options
@click.option("--stage", type=click.Choice(_STAGES, case_sensitive=False), default=None,
              help="[default: development]")  # fmt: skip
@pass_state
def create(state: State, /, model: str, stage: str | None, **options: Any) -> None:
    """Register a new version of PROJECT/MODEL (PENDING_UPLOAD until its artifact is uploaded).

    \b
    Example:
      modelyard version create fraud/scorer --framework sklearn --format skops \\
        --input features:FP32:-1,30 --output score:FP32:-1 \\
        --param max_depth=6 --param criterion=gini --dep scikit-learn==1.5.2 \\
        --produced-by fraud/features:3 --tag dataset=2024-q4
    """
    emit(state, state.client.create_version(model, stage=stage, **_fields(options)), _render.version)


@version.command("get")
@click.argument("reference", metavar="REF")
@pass_state
def get(state: State, reference: str) -> None:
    """Show a version: REF is PROJECT/MODEL:N, PROJECT/MODEL@ALIAS or PROJECT/MODEL (latest READY)."""
    emit(state, state.client.get_version(reference), _render.version)


@version.command("list")
@click.argument("model", metavar="PROJECT/MODEL")
@pass_state
def list_(state: State, model: str) -> None:
    """List the versions of a model, newest first."""
    emit_list(state, list(state.client.list_versions(model)), _render.versions, f"model {model} has no versions yet")


@version.command("update")
@click.argument("reference", metavar="REF")
@_version_options
@reason_option
@pass_state
def update(state: State, /, reference: str, reason: str, **options: Any) -> None:
    """Change the fields given as options, and only those. A repeatable option replaces the
    whole field: --input or --output the signature, --param all params, --dep/--build-dep all
    dependencies, --tag all tags."""
    fields = _fields(options)
    if not fields:
        raise click.UsageError("nothing to update: give at least one option (see --help)")
    emit(state, state.client.update_version(reference, reason=reason, **fields), _render.version)


@version.command("consumers")
@click.argument("reference", metavar="REF")
@pass_state
def consumers(state: State, reference: str) -> None:
    """Who consumes a version: each principal that pulled or loaded it, or deploys it (with the
    deployment's name), its teams, when first and last; then how many distinct teams."""
    emit(state, state.client.version_consumers(reference), _render.consumers)
