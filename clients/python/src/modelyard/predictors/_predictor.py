"""A loaded model behind one interface: numpy arrays in, numpy arrays out, with declared tensors."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from modelyard._types import ModelVersion, TensorSpec
from modelyard.errors import FailedPreconditionError, InternalError
from modelyard.predictors._codec import DATATYPES, check_inputs

__all__ = ["Arrays", "Model", "Predictor", "import_extra"]

Arrays = dict[str, np.ndarray[Any, Any]]


class Model(Protocol):
    """What a loader wraps (and what a CUSTOM entry point returns): named arrays to named arrays."""

    def predict(self, inputs: Mapping[str, np.ndarray[Any, Any]]) -> Mapping[str, Any]: ...


class Predictor:
    """One loaded model version.

    ``inputs`` and ``outputs`` describe its tensors (OIP datatype, shape with -1 for any size).
    ``predict`` refuses inputs that do not match them, naming the tensor, and returns every
    declared output in its declared datatype. A model that declares no inputs (a CUSTOM model
    without signature) takes whatever it is given.
    """

    def __init__(
        self,
        model: Model,
        version: ModelVersion,
        platform: str,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
    ) -> None:
        self.model = model
        self.version = version
        self.platform = platform
        self.inputs = inputs
        self.outputs = outputs
        self._dtypes = {spec.name: DATATYPES[spec.datatype] for spec in outputs if spec.datatype in DATATYPES}

    def __repr__(self) -> str:
        return f"Predictor({self.version.reference}, platform={self.platform!r})"

    def predict(self, inputs: Mapping[str, np.ndarray[Any, Any]]) -> Arrays:
        """Runs the model on ``inputs`` (name -> array); returns name -> array."""
        check_inputs(inputs, self.inputs)
        produced = self.model.predict(inputs)
        results: Arrays = {}
        for name, value in produced.items():
            dtype = self._dtypes.get(name)
            results[name] = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
        missing = [name for name in self._dtypes if name not in results]
        if missing:
            raise InternalError(f"{self.version.reference}: the model returned no output {missing[0]!r}")
        return results


def import_extra(module: str, extra: str) -> ModuleType:
    """Imports a model runtime on first use; says which extra installs it when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FailedPreconditionError(
            f"{module} is not installed: install it with pip install 'modelyard[{extra}]'"
        ) from exc
