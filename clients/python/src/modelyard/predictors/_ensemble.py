"""ENSEMBLE models: member versions combined by AVERAGE, VOTE or CHAIN.

AVERAGE and VOTE give every member the same inputs (the first member's) and combine each output
element-wise: the mean (integer and boolean outputs become FP64), or the majority value, a tie
going to the member listed first. Their members must declare the same output names. CHAIN feeds
each member's outputs to the next one: by name when the next member's inputs are all among
them, else in order; the ensemble's outputs are the last member's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelyard._types import EnsembleMethod, ModelVersion, TensorSpec
from modelyard.errors import FailedPreconditionError
from modelyard.predictors._predictor import Arrays, Predictor

__all__ = ["load_ensemble"]


class _Average:
    def __init__(self, members: Sequence[Predictor]) -> None:
        self._members = members

    def predict(self, inputs: Mapping[str, np.ndarray[Any, Any]]) -> Arrays:
        results = [member.predict(inputs) for member in self._members]
        return {name: np.mean([r[name] for r in results], axis=0) for name in results[0]}


class _Vote:
    def __init__(self, members: Sequence[Predictor]) -> None:
        self._members = members

    def predict(self, inputs: Mapping[str, np.ndarray[Any, Any]]) -> Arrays:
        results = [member.predict(inputs) for member in self._members]
        return {name: _majority(np.stack([r[name] for r in results])) for name in results[0]}


def _majority(votes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Per element, the value most members gave (axis 0 is the member); argmax picks the first
    member among those tied."""
    agreeing = np.stack([(votes == votes[i]).sum(axis=0) for i in range(len(votes))])
    winner = agreeing.argmax(axis=0)
    chosen: np.ndarray[Any, Any] = np.take_along_axis(votes, winner[np.newaxis], axis=0)[0]
    return chosen


class _Chain:
    def __init__(self, members: Sequence[Predictor]) -> None:
        self._members = members

    def predict(self, inputs: Mapping[str, np.ndarray[Any, Any]]) -> Arrays:
        arrays = dict(inputs)
        for member in self._members:
            arrays = member.predict(_as_inputs(arrays, member.inputs))
        return arrays


def _as_inputs(arrays: Arrays, specs: Sequence[TensorSpec]) -> Arrays:
    if not specs:
        return arrays
    names = [spec.name for spec in specs]
    if all(name in arrays for name in names):
        return {name: arrays[name] for name in names}
    return dict(zip(names, arrays.values(), strict=False))


def load_ensemble(version: ModelVersion, members: Sequence[Predictor]) -> Predictor:
    """The predictor combining ``members`` as ``version.serving.ensemble_method`` says."""
    method = version.serving.ensemble_method if version.serving is not None else EnsembleMethod.UNSPECIFIED
    if not members:
        raise FailedPreconditionError(f"{version.reference}: serving.members is empty")
    first, last = members[0], members[-1]
    if method is EnsembleMethod.CHAIN:
        return Predictor(_Chain(members), version, "modelyard_ensemble", first.inputs, last.outputs)
    if method not in (EnsembleMethod.AVERAGE, EnsembleMethod.VOTE):
        raise FailedPreconditionError(f"{version.reference}: serving.ensemble_method is {method}")
    names = [spec.name for spec in first.outputs]
    for member in members[1:]:
        if [spec.name for spec in member.outputs] != names:
            raise FailedPreconditionError(
                f"{version.reference}: member {member.version.reference} has outputs "
                f"{[spec.name for spec in member.outputs]}, member {first.version.reference} {names}: "
                f"{method} needs the same outputs"
            )
    if method is EnsembleMethod.VOTE:
        return Predictor(_Vote(members), version, "modelyard_ensemble", first.inputs, first.outputs)
    outputs = tuple(_averaged(spec, version) for spec in first.outputs)
    return Predictor(_Average(members), version, "modelyard_ensemble", first.inputs, outputs)


def _averaged(spec: TensorSpec, version: ModelVersion) -> TensorSpec:
    if spec.datatype == "BYTES":
        raise FailedPreconditionError(f"{version.reference}: output {spec.name} is BYTES, which AVERAGE cannot average")
    datatype = spec.datatype if spec.datatype.startswith("FP") else "FP64"
    return TensorSpec(spec.name, datatype, spec.shape)
