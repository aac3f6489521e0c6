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
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelyard_metadata.domain.entities import Stage
from modelyard_metadata.domain.scoring_entities import ScoringRun
from modelyard_metadata.domain.webhook_entities import Attempt, Subscription
from modelyard_metadata.storage.watched_metrics import WatchedMetric, watched_metrics

__all__ = ["CACHE_ERRORS", "CACHE_LOOKUPS", "ModelMetricGauges", "WebhookMetrics", "scoring_run_finished"]

logger = logging.getLogger(__name__)

CACHE_LOOKUPS = Counter(
    "modelyard_metadata_cache_lookups_total",
    "Cache lookups by result (hit, miss, bypass when Redis is down)",
    ["result"],
)
CACHE_ERRORS = Counter("modelyard_metadata_cache_errors_total", "Redis operations that failed", ["operation"])
WEBHOOK_ATTEMPTS = Counter(
    "modelyard_metadata_webhook_deliveries_total", "Webhook delivery attempts by result (delivered, failed)", ["result"]
)
SCORING_RUNS = Counter(
    "modelyard_metadata_scoring_runs_total",
    "Scoring runs finished, by outcome (PASSED, FAILED, ERROR) and the stage of the version scored",
    ["project", "model", "stage", "outcome"],
)
WEBHOOK_SECONDS = Histogram("modelyard_metadata_webhook_delivery_seconds", "Duration of webhook delivery attempts")


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


class WebhookMetrics(Collector):
    """Implements DeliveryObserver: attempts as they happen; each subscription's backlog and
    whether it is failing, from the worker's last look (``modelyard_metadata_webhook_backlog``,
    ``modelyard_metadata_webhook_failing``). Registered by ``register``."""

    def __init__(self) -> None:
        self._snapshot: Sequence[Subscription] = ()

    def attempted(self, attempt: Attempt) -> None:
        WEBHOOK_ATTEMPTS.labels("delivered" if attempt.ok else "failed").inc()
        WEBHOOK_SECONDS.observe(attempt.seconds)

    def subscriptions(self, subscriptions: Sequence[Subscription]) -> None:
        self._snapshot = subscriptions

    def collect(self) -> Iterator[Metric]:
        labels = ["project", "subscription"]
        backlog = GaugeMetricFamily(
            "modelyard_metadata_webhook_backlog", "Deliveries waiting, by subscription", labels=labels
        )
        failing = GaugeMetricFamily(
            "modelyard_metadata_webhook_failing",
            "1 while a subscription's receiver keeps failing, by subscription",
            labels=labels,
        )
        for s in self._snapshot:
            backlog.add_metric([s.project, s.id], s.backlog)
            failing.add_metric([s.project, s.id], 1 if s.failing_since is not None else 0)
        yield backlog
        yield failing


def scoring_run_finished(run: ScoringRun, stage: Stage | None) -> None:
    """Counts a finished run (``stage``: of the version it scored; none when unresolved)."""
    SCORING_RUNS.labels(run.project, run.model, stage.value if stage else "", run.state.value).inc()
