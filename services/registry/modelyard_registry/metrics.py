"""The registry's own Prometheus metrics (RPC counts and latencies come from the interceptor),
recorded as modelyard_common.metrics says: the use cases report to ``PrometheusObserver``, the S3
store (storage/s3.py) times its own requests."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["BYTES", "DEDUPLICATED", "S3_IN_FLIGHT", "S3_SECONDS", "PrometheusObserver"]

BYTES = Counter("modelyard_registry_bytes_total", "Artifact bytes moved between clients and the store", ["direction"])
DEDUPLICATED = Counter("modelyard_registry_deduplicated_files_total", "Uploaded files whose content was stored already")
S3_SECONDS = Histogram(
    "modelyard_registry_s3_request_seconds",
    "Latency of S3 requests, by operation and outcome",
    ["operation", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
S3_IN_FLIGHT = Gauge("modelyard_registry_s3_requests_in_flight", "S3 requests under way, by operation", ["operation"])


class PrometheusObserver:
    """The uploads' and downloads' reports (domain.ports.TransferObserver), as metrics."""

    def __init__(self) -> None:
        self._uploaded, self._downloaded = BYTES.labels("upload"), BYTES.labels("download")

    def uploaded(self, size: int) -> None:
        self._uploaded.inc(size)

    def downloaded(self, size: int) -> None:
        self._downloaded.inc(size)

    def deduplicated(self) -> None:
        DEDUPLICATED.inc()
