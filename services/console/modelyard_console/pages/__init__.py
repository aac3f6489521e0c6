"""The pages, each a URL a person can share; one module per group of pages."""

from __future__ import annotations

from starlette.routing import Route

from modelyard_console.pages import (
    artifacts,
    audit,
    catalog,
    changes,
    datasets,
    deployments,
    explore,
    jobs,
    scoring,
    webhooks,
)

__all__ = ["routes"]


def routes() -> list[Route]:
    return [
        *catalog.routes(),
        *explore.routes(),
        *changes.routes(),
        *artifacts.routes(),
        *audit.routes(),
        *deployments.routes(),
        *datasets.routes(),
        *scoring.routes(),
        *jobs.routes(),
        *webhooks.routes(),
    ]
