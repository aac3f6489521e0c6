"""The metadata service's own Prometheus metrics (RPC counts and latencies come from the
interceptor; the pattern is modelyard_common.metrics'): the cache's lookups and errors, which
storage/cache.py records, and the latest metrics of watched versions as gauges, so that
dashboards and alerts can follow a production model's accuracy next to its latency, and see its
decay as monitoring jobs log new values."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence

import asyncpg
from prometheus_client import REGISTRY, Counter
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelyard_metadata.storage.watched_metrics import WatchedMetric, watched_metrics

__all__ = ["CACHE_ERRORS", "CACHE_LOOKUPS", "ModelMetricGauges"]

logger = logging.getLogger(__name__)

CACHE_LOOKUPS = Counter(
    "modelyard_metadata_cache_lookups_total",
    "Cache lookups by result (hit, miss, bypass when Redis is down)",
    ["result"],
)
CACHE_ERRORS = Counter("modelyard_metadata_cache_errors_total", "Redis operations that failed", ["operation"])


class ModelMetricGauges(Collector):
    """``modelyard_model_metric``: refreshed from Postgres every ``interval`` seconds; a scrape
    reads the last snapshot, so versions that leave the watched set leave no stale series."""

    def __init__(self, pool: asyncpg.Pool, interval: float, limit: int) -> None:
        self._pool, self._interval, self._limit = pool, interval, limit
        self._snapshot: Sequence[WatchedMetric] = ()

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "modelyard_model_metric",
            "Latest value of each numeric metric of versions in VALIDATION or PRODUCTION or with an alias",
            labels=["project", "model", "version", "stage", "metric"],
        )
        for m in self._snapshot:
            gauge.add_metric([m.project, m.model, str(m.version), m.stage, m.metric], m.value)
        yield gauge

    async def run(self) -> None:
        """Registers the gauges and refreshes them until cancelled (then unregisters them)."""
        REGISTRY.register(self)
        try:
            while True:
                try:
                    self._snapshot = await watched_metrics(self._pool, self._limit)
                except Exception:
                    logger.warning("could not read the watched model metrics; keeping the last ones", exc_info=True)
                await asyncio.sleep(self._interval)
        finally:
            REGISTRY.unregister(self)
