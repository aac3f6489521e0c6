"""The metrics every service exports (its RPCs, recorded by the interceptor), and the one way
each service records its own.

1. A package declares its metrics in one module, ``metrics.py``, as module-level
   prometheus_client objects named ``modelyard_<service>_<what>`` (``_total`` for counters, the
   unit last: ``_seconds``, ``_bytes``): one file lists what the package exports, and
   docs/observability.md mirrors it. Postgres pool metrics are the exception: they live with the
   pool (postgres.py), so that only a service with a pool exports them.
2. Domain code never imports prometheus_client. It reports what happened to an observer
   Protocol of its ``domain/ports.py``, one method per event named for it in the past tense
   (``uploaded(size)``, ``restarted()``); the package's ``metrics.py`` implements it in a class
   ``PrometheusObserver``, which main.py hands to the use cases. Label children a hot path uses
   are resolved once, in the observer's constructor.
3. Code outside the domain (a storage adapter, the interceptor) records into its package's
   metric objects itself: how long a call to S3 took is that adapter's own concern.
4. State kept elsewhere (a pool's connections, rows in Postgres) is read when scraped, by a
   ``Collector``, rather than mirrored into gauges that must be kept in step.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["RPC_IN_FLIGHT", "RPC_LATENCY", "RPC_REQUESTS"]

RPC_REQUESTS = Counter(
    "modelyard_rpc_requests_total", "RPCs served, by method and status code", ["service", "method", "code"]
)
RPC_LATENCY = Histogram(
    "modelyard_rpc_duration_seconds",
    "Time to serve an RPC (whole stream for streaming RPCs), by method and status code",
    ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RPC_IN_FLIGHT = Gauge("modelyard_rpc_in_flight", "RPCs being served", ["service", "method"])
