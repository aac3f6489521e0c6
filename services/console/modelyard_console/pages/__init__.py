"""The pages, each a URL a person can share; one module per group of pages."""

from __future__ import annotations

from starlette.routing import Route

from modelyard_console.pages import artifacts, catalog, changes, explore

__all__ = ["routes"]


def routes() -> list[Route]:
    return [*catalog.routes(), *explore.routes(), *changes.routes(), *artifacts.routes()]
