"""A deployment's "try it" form: a JSON object of inputs sent to its inference servers, and the
outputs as tables.

Predictions are only on the blocking ``modelyard.Client`` (its replica router), so the call
runs in a worker thread with a blocking client made for the occasion, with the session's
token and the async client's addresses; the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

import modelyard
import modelyard.aio
from modelyard.errors import InvalidArgumentError
from modelyard.predictors import Arrays, as_array, datatype_of

__all__ = ["MAX_ROWS", "OutputTable", "predict", "read_inputs"]

MAX_ROWS = 100  # rows of an output shown


@dataclass(frozen=True, slots=True)
class OutputTable:
    name: str
    datatype: str
    shape: tuple[int, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    hidden: int  # rows beyond MAX_ROWS


def read_inputs(text: str) -> dict[str, Any]:
    """The form's text as input name -> nested lists; InvalidArgumentError naming what is wrong."""
    try:
        inputs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"inputs: not JSON: {exc}") from None
    if not isinstance(inputs, dict) or not inputs:
        raise InvalidArgumentError('inputs: expected a JSON object of input name -> array, e.g. {"input": [[1, 2]]}')
    return inputs


async def predict(
    client: modelyard.aio.AsyncClient, token: str, deployment: str, inputs: dict[str, Any]
) -> list[OutputTable]:
    """The outputs of ``deployment`` for ``inputs``, each read in the datatype its model declares
    (JSON numbers alone cannot say FP32 from FP64)."""
    outputs = await asyncio.to_thread(_predict, client, token, deployment, inputs)
    return [_table(name, array) for name, array in outputs.items()]


def _predict(client: modelyard.aio.AsyncClient, token: str, deployment: str, inputs: dict[str, Any]) -> Arrays:
    with modelyard.connect(
        client.target,
        deploy=client.deploy_target,
        actor=client.actor,
        token=token,
        timeout=client.timeout,
        tls=client.tls,
    ) as blocking:
        specs = {spec.name: spec for spec in blocking.deployment_signature(deployment).inputs}
        arrays = {
            name: as_array(name, value, specs[name].datatype, specs[name].shape)
            if name in specs
            else as_array(name, value)
            for name, value in inputs.items()
        }
        return blocking.predict(deployment, arrays)


def _table(name: str, array: np.ndarray[Any, Any]) -> OutputTable:
    """One row per item of the first axis (a batch's rows), the rest flattened into columns."""
    count = 1 if array.ndim == 0 else array.shape[0]
    matrix = array.reshape(count, -1) if array.size else np.empty((count, 0))
    columns = ("value",) if array.ndim <= 1 else tuple(f"[{j}]" for j in range(matrix.shape[1]))
    rows = tuple(tuple(_cell(value) for value in row) for row in matrix[:MAX_ROWS])
    return OutputTable(name, datatype_of(array, name), array.shape, columns, rows, max(0, count - MAX_ROWS))


def _cell(value: Any) -> str:
    item = value.item() if isinstance(value, np.generic) else value
    if isinstance(item, bytes):
        return item.decode("utf-8", "replace")
    if isinstance(item, float):
        return f"{item:.6g}"
    return str(item)
