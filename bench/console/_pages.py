"""The pages the console benchmark times, each with its baseline: the gRPC calls that page
makes (as services/console/modelyard_console/pages makes them, in the same order and
concurrency) made straight with ``modelyard.aio``; what a page must show to count as served;
and a browser signed in through the sign-in form.

The console's pages and these baselines must make the same calls: ``rpc_counts`` reads what the
services served (their Prometheus counters), so the benchmark checks it for every page."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from html import unescape
from typing import TypeVar
from urllib.parse import urlencode

import httpx

import modelyard.aio
from bench.console._seed import CATALOG, FEATURED, FEATURED_MODEL
from bench.metadata._seed import PROJECTS
from modelyard_console.pages._scoring_views import version_scoring

__all__ = ["SEARCH_FILTER", "SEARCH_PAGE", "Page", "pages", "rpc_counts", "signed_in"]

T = TypeVar("T")
SEARCH_FILTER = 'metrics.accuracy > 0.9 AND stage = "PRODUCTION"'
SEARCH_PAGE = 25
"""The search page's default page size."""
LISTED_PROJECT = PROJECTS[0]


@dataclass(frozen=True)
class Page:
    key: str
    title: str
    path: str
    calls: Callable[[modelyard.aio.AsyncClient], Awaitable[object]]
    """The page's gRPC calls, made straight with the SDK."""
    marker: str
    """What the page repeats once per item it lists (a row, a chart)..."""
    count: int
    """... and how many items it must show."""

    def check(self, answer: httpx.Response) -> None:
        """Refuses an answer that is not the page as seeded (an error page, a refused section)."""
        if answer.status_code != 200 or answer.text.count(self.marker) != self.count:
            raise AssertionError(f"{self.path}: {answer.status_code}, {answer.text.count(self.marker)} x {self.marker}")
        if 'data-deployments="refused"' in answer.text:
            raise AssertionError(f"{self.path}: the deployments section was refused")


def pages(catalog_models: int, scalars: int, projects: int) -> list[Page]:
    """The version page, the project page, the search page (filtered, and a project's listing),
    the projects page."""
    model, number = FEATURED_MODEL.partition("/")[2], FEATURED.rpartition(":")[2]
    filtered = urlencode({"filter": SEARCH_FILTER})
    return [
        Page(
            "version",
            f"version page ({scalars} metrics with history)",
            f"/projects/{CATALOG}/models/{model}/versions/{number}",
            _version_calls,
            "data-history=",
            scalars,
        ),
        Page(
            "project",
            f"project page ({catalog_models:,} models)",
            f"/projects/{CATALOG}",
            _project_calls,
            "<tr data-model=",
            catalog_models,
        ),
        Page(
            "search", "search page, filtered", f"/search?{filtered}", _search_calls, "<tr data-reference=", SEARCH_PAGE
        ),
        Page(
            "listing",
            f"search page, project {LISTED_PROJECT}",
            f"/search?project={LISTED_PROJECT}",
            _listing_calls,
            "<tr data-reference=",
            SEARCH_PAGE,
        ),
        Page("projects", f"projects page ({projects} projects)", "/", _projects_calls, "<tr data-project=", projects),
    ]


async def _listed(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


async def _version_calls(client: modelyard.aio.AsyncClient) -> None:
    version, *_ = await asyncio.gather(
        client.get_version(FEATURED),
        client.get_model(FEATURED_MODEL),
        client.project_summary(CATALOG, metric="accuracy"),
        client.lineage(FEATURED),
        _listed(client.audit_events(project=CATALOG, resource=FEATURED, limit=50)),
        client.version_consumers(FEATURED),
    )
    await asyncio.gather(
        asyncio.gather(*(client.metric_history(FEATURED, name) for name in sorted(version.metrics))),
        _listed(client.list_deployments(project=CATALOG)),
        client.dataset_links(FEATURED),
        version_scoring(client, FEATURED_MODEL, FEATURED),
    )


async def _project_calls(client: modelyard.aio.AsyncClient) -> None:
    await asyncio.gather(client.project_summary(CATALOG, metric="accuracy"), _listed(client.list_models(CATALOG)))


async def _search_calls(client: modelyard.aio.AsyncClient) -> None:
    await client.search_page(filter=SEARCH_FILTER, order_by="", project="", page_size=SEARCH_PAGE, page_token="")


async def _listing_calls(client: modelyard.aio.AsyncClient) -> None:
    await client.search_page(filter="", order_by="", project=LISTED_PROJECT, page_size=SEARCH_PAGE, page_token="")


async def _projects_calls(client: modelyard.aio.AsyncClient) -> None:
    projects = await _listed(client.list_projects())
    await asyncio.gather(*(client.project_summary(project.name) for project in projects))


_COUNTER = re.compile(r"^modelyard_rpc_requests_total\{([^}]*)\} ([0-9.e+]+)$", re.M)
# What the services call on their own while pages are served (the deploy service's scoring
# scheduler and event forwarder), not counted.
_BACKGROUND = frozenset({"ScoringService/ClaimScoringRuns", "MetadataService/RecordServiceEvents"})


async def rpc_counts(http: httpx.AsyncClient, metrics_urls: list[str]) -> Counter[str]:
    """The RPCs the services at ``metrics_urls`` served so far, by "service/method", but those
    the services make by themselves."""
    counts: Counter[str] = Counter()
    for url in metrics_urls:
        text = (await http.get(url)).text
        for labels, value in _COUNTER.findall(text):
            fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            method = f"{fields['service']}/{fields['method']}"
            if method not in _BACKGROUND:
                counts[method] += int(float(value))
    return counts


async def signed_in(base_url: str, token: str) -> httpx.AsyncClient:
    """A browser (one keep-alive connection, cookies kept) signed in with ``token`` through the
    sign-in form, as a person does."""
    browser = httpx.AsyncClient(base_url=base_url, timeout=60, limits=httpx.Limits(max_connections=1))
    form = await browser.get("/sign-in")
    found = re.search(r'name="csrf" value="([^"]*)"', form.text)
    assert found, "no csrf field on the sign-in page"
    answer = await browser.post("/sign-in", data={"csrf": unescape(found[1]), "token": token, "next": "/"})
    assert answer.status_code == 303, answer.text
    return browser
