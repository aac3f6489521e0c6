"""The inference server's own Prometheus metrics (RPC counts and latencies come from the
interceptor). Each carries the served model (the deployment's name) and version number, so that
dashboards and alerts can tell versions apart during a rolling change."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["ModelMetrics"]

_MODEL = ["model", "version"]
INFO = Gauge("modelyard_serving_model_info", "The version served (always 1)", [*_MODEL, "reference", "platform"])
LOAD_SECONDS = Gauge("modelyard_serving_model_load_seconds", "Time the served model took to fetch and load", _MODEL)
INFERENCE_SECONDS = Histogram(
    "modelyard_serving_inference_seconds",
    "Time the model took to compute one request's outputs, by outcome",
    [*_MODEL, "outcome"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TENSORS = Counter("modelyard_serving_tensors_total", "Tensors received and returned", [*_MODEL, "direction"])
ELEMENTS = Counter("modelyard_serving_elements_total", "Tensor elements received and returned", [*_MODEL, "direction"])


class ModelMetrics:
    """The series of one served version (children resolved once: inference is the hot path)."""

    def __init__(self, model: str, version: str) -> None:
        self.model, self.version = model, version
        self._inference = {o: INFERENCE_SECONDS.labels(model, version, o) for o in ("ok", "invalid", "failed")}
        self._tensors = {d: TENSORS.labels(model, version, d) for d in ("input", "output")}
        self._elements = {d: ELEMENTS.labels(model, version, d) for d in ("input", "output")}

    def loaded(self, reference: str, platform: str, seconds: float) -> None:
        INFO.labels(self.model, self.version, reference, platform).set(1)
        LOAD_SECONDS.labels(self.model, self.version).set(seconds)

    def inference(self, outcome: str, seconds: float) -> None:
        self._inference[outcome].observe(seconds)

    def tensors(self, direction: str, count: int, elements: int) -> None:
        self._tensors[direction].inc(count)
        self._elements[direction].inc(elements)
