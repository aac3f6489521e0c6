"""The inference server's own Prometheus metrics (RPC counts and latencies come from the interceptor)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["ELEMENTS", "INFERENCES", "LOAD_SECONDS", "TENSORS"]

INFERENCES = Counter("modelyard_serving_inferences_total", "Inferences run, by outcome", ["outcome"])
TENSORS = Counter("modelyard_serving_tensors_total", "Tensors received and returned", ["direction"])
ELEMENTS = Counter("modelyard_serving_elements_total", "Tensor elements received and returned", ["direction"])
LOAD_SECONDS = Gauge("modelyard_serving_model_load_seconds", "Time the served model took to fetch and load")
