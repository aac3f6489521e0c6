"""``modelyard predict``: JSON arrays in, a deployment's outputs out (over its inference servers)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

import click

from modelyard import InvalidArgumentError, TensorSpec
from modelyard.cli import _render
from modelyard.cli._app import State, emit, pass_state
from modelyard.cli._parsing import parse_key_value


def _json_inputs(given: Iterable[str], inputs_json: IO[str] | None) -> dict[str, Any]:
    """Name -> JSON value, from the --inputs-json object then each --input NAME=JSON."""
    values: dict[str, Any] = {}
    if inputs_json is not None:
        try:
            document = json.load(inputs_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--inputs-json") from None
        if not isinstance(document, dict):
            raise click.BadParameter("expected a JSON object of NAME: array", param_hint="--inputs-json")
        values.update(document)
    for text in given:
        try:
            name, value = parse_key_value(text)
        except ValueError:
            raise click.BadParameter(f"{text!r}: expected NAME=JSON", param_hint="--input") from None
        if name in values:
            raise click.BadParameter(f"{text!r}: {name} is given twice", param_hint="--input")
        try:
            values[name] = json.loads(value)
        except ValueError as exc:
            raise click.BadParameter(f"{name}: not a JSON array: {exc}", param_hint="--input") from None
    if not values:
        raise click.UsageError("no inputs: give --input NAME=JSON or --inputs-json FILE")
    return values


def _arrays(values: dict[str, Any], specs: tuple[TensorSpec, ...]) -> dict[str, Any]:
    """The inputs as arrays in the datatypes the model declares (numpy's guess when it declares
    none)."""
    from modelyard.predictors import as_array

    declared = {spec.name: spec for spec in specs}
    arrays = {}
    for name, value in values.items():
        spec = declared.get(name)
        if specs and spec is None:
            raise InvalidArgumentError(f"{name}: not an input of the model (inputs: {', '.join(sorted(declared))})")
        arrays[name] = as_array(name, value, spec.datatype, spec.shape) if spec else as_array(name, value)
    return arrays


def _plain(value: Any) -> Any:
    """Array contents as JSON values: BYTES elements as text."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


@click.command()
@click.argument("deployment")
@click.option(
    "--input",
    "given",
    multiple=True,
    metavar="NAME=JSON",
    help="An input tensor as a JSON array, e.g. input='[[5.1,3.5,1.4,0.2]]' (repeatable).",
)
@click.option(
    "--inputs-json",
    type=click.File("r"),
    metavar="FILE|-",
    help='A JSON object of inputs, {"NAME": array, ...}; - reads stdin.',
)
@click.option("--output", "outputs", multiple=True, metavar="NAME", help="Only this output (repeatable).")
@pass_state
def predict(
    state: State, deployment: str, given: tuple[str, ...], inputs_json: IO[str] | None, outputs: tuple[str, ...]
) -> None:
    """Run the model DEPLOYMENT serves on JSON inputs and print its outputs.

    The inputs take the datatypes the model declares (OIP ModelMetadata of the deployment's
    inference servers), so plain JSON numbers just work.

    \b
    Examples:
      modelyard predict iris --input input='[[5.1,3.5,1.4,0.2]]'
      echo '{"input": [[5.1,3.5,1.4,0.2]]}' | modelyard predict iris --inputs-json - --json
    """
    values = _json_inputs(given, inputs_json)
    client = state.client
    arrays = _arrays(values, client.deployment_signature(deployment).inputs)
    results = client.predict(deployment, arrays, outputs=outputs or None)
    emit(state, {name: _plain(array.tolist()) for name, array in results.items()}, _render.predictions)
