"""The one model a server serves, as OIP requests see it: its name, its version once loaded,
and inference with the server's metrics."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelyard.predictors import Arrays, Predictor
from modelyard_common.errors import BackendUnavailableError, InvalidArgumentError, ModelyardError, NotFoundError
from modelyard_serving.metrics import ModelMetrics

__all__ = ["ServedModel"]


class ServedModel:
    """``predictor`` is None until the model is loaded; requests name the model ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.predictor: Predictor | None = None
        self._metrics: ModelMetrics | None = None  # with the predictor

    def loaded(self, predictor: Predictor, seconds: float) -> None:
        """From now on, requests are answered by ``predictor``."""
        self._metrics = ModelMetrics(self.name, str(predictor.version.version))
        self._metrics.loaded(predictor.version.reference, predictor.platform, seconds)
        self.predictor = predictor

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
        metrics = self._metrics
        assert metrics is not None, "set with the predictor, which require() returned"
        metrics.tensors("input", len(inputs), sum(array.size for array in inputs.values()))
        started = time.perf_counter()
        outcome = "failed"
        try:
            outputs = predictor.predict(inputs)
            unknown = [name for name in requested if name not in outputs]
            if unknown:
                raise InvalidArgumentError(
                    "outputs", f"{unknown[0]!r} is not an output of {self.name} ({', '.join(outputs)})"
                )
            outcome = "ok"
        except ModelyardError as exc:
            outcome = "invalid" if exc.code == "INVALID_ARGUMENT" else "failed"
            raise
        finally:
            metrics.inference(outcome, time.perf_counter() - started)
        if requested:
            outputs = {name: outputs[name] for name in requested}
        metrics.tensors("output", len(outputs), sum(array.size for array in outputs.values()))
        return outputs
