"""The pages, each a URL a person can share; one module per group of pages."""

from __future__ import annotations

from starlette.routing import Route

from modelyard_console.pages import audit, catalog, deployments

__all__ = ["routes"]


def routes() -> list[Route]:
    return [*catalog.routes(), *audit.routes(), *deployments.routes()]
