"""The one model a server serves, as OIP requests see it: its name, its version once loaded,
and inference with the server's metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelyard.predictors import Arrays, Predictor
from modelyard_common.errors import BackendUnavailableError, InvalidArgumentError, ModelyardError, NotFoundError
from modelyard_serving.metrics import ELEMENTS, INFERENCES, TENSORS

__all__ = ["ServedModel"]


class ServedModel:
    """``predictor`` is None until the model is loaded; requests name the model ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.predictor: Predictor | None = None

    def is_ready(self, name: str, version: str) -> bool:
        self._check_name(name)
        return self.predictor is not None and version in ("", str(self.predictor.version.version))

    def require(self, name: str, version: str) -> Predictor:
        """The loaded predictor, if ``name`` and ``version`` (empty: any) are what is served."""
        self._check_name(name)
        if self.predictor is None:
            raise BackendUnavailableError(f"{self.name}: the model is still loading")
        served = str(self.predictor.version.version)
        if version not in ("", served):
            raise NotFoundError(f"model_version: {self.name} has no version {version!r} here (it serves {served})")
        return self.predictor

    def _check_name(self, name: str) -> None:
        if name != self.name:
            raise NotFoundError(f"model_name: no model {name!r} here (this server serves {self.name!r})")

    def infer(
        self, predictor: Predictor, inputs: Mapping[str, np.ndarray[Any, Any]], requested: Sequence[str]
    ) -> Arrays:
        """The outputs of ``predictor`` on ``inputs``: those ``requested`` in that order, or all."""
        TENSORS.labels("input").inc(len(inputs))
        ELEMENTS.labels("input").inc(sum(array.size for array in inputs.values()))
        try:
            outputs = predictor.predict(inputs)
            unknown = [name for name in requested if name not in outputs]
            if unknown:
                raise InvalidArgumentError(
                    "outputs", f"{unknown[0]!r} is not an output of {self.name} ({', '.join(outputs)})"
                )
        except ModelyardError as exc:
            INFERENCES.labels("invalid" if exc.code == "INVALID_ARGUMENT" else "failed").inc()
            raise
        except Exception:
            INFERENCES.labels("failed").inc()
            raise
        INFERENCES.labels("ok").inc()
        if requested:
            outputs = {name: outputs[name] for name in requested}
        TENSORS.labels("output").inc(len(outputs))
        ELEMENTS.labels("output").inc(sum(array.size for array in outputs.values()))
        return outputs
