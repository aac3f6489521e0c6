"""The registry's own Prometheus metrics (RPC counts and latencies come from the interceptor),
recorded as modelyard_common.metrics says: the use cases report to ``PrometheusObserver``, the S3
store (storage/s3.py) times its own requests."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from modelyard_common.values import dataset_of_registry_reference

__all__ = ["BYTES", "DEDUPLICATED", "S3_IN_FLIGHT", "S3_SECONDS", "PrometheusObserver"]

BYTES = Counter(
    "modelyard_registry_bytes_total", "Artifact bytes moved between clients and the store", ["direction", "kind"]
)
DEDUPLICATED = Counter(
    "modelyard_registry_deduplicated_files_total", "Uploaded files whose content was stored already", ["kind"]
)
S3_SECONDS = Histogram(
    "modelyard_registry_s3_request_seconds",
    "Latency of S3 requests, by operation and outcome",
    ["operation", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
S3_IN_FLIGHT = Gauge("modelyard_registry_s3_requests_in_flight", "S3 requests under way, by operation", ["operation"])


class PrometheusObserver:
    """The uploads' and downloads' reports (domain.ports.TransferObserver), as metrics labelled
    with the kind of version: ``model`` or ``dataset``."""

    def __init__(self) -> None:
        kinds = ("model", "dataset")
        self._uploaded = {kind: BYTES.labels("upload", kind) for kind in kinds}
        self._downloaded = {kind: BYTES.labels("download", kind) for kind in kinds}
        self._deduplicated = {kind: DEDUPLICATED.labels(kind) for kind in kinds}

    def uploaded(self, reference: str, size: int) -> None:
        self._uploaded[_kind(reference)].inc(size)

    def downloaded(self, reference: str, size: int) -> None:
        self._downloaded[_kind(reference)].inc(size)

    def deduplicated(self, reference: str) -> None:
        self._deduplicated[_kind(reference)].inc()


def _kind(reference: str) -> str:
    return "model" if dataset_of_registry_reference(reference) is None else "dataset"
