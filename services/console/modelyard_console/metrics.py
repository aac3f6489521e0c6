"""The console's Prometheus metrics (the pattern: modelyard_common.metrics): its pages' requests
by route template and status, and how long each took to render, calls to the services included."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["REQUESTS", "REQUEST_SECONDS"]

REQUESTS = Counter("modelyard_console_requests_total", "HTTP requests by route and status", ["route", "code"])
REQUEST_SECONDS = Histogram(
    "modelyard_console_request_seconds",
    "Time to answer an HTTP request, by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
