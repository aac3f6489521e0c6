"""The catalog's pages: projects, a project, a model, a version (the last two also the pages
that changes return to, see ``changes``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard.aio
from modelyard import AuditEvent, Deployment, MetricPoint, ModelVersion
from modelyard.errors import ModelyardError
from modelyard_console.charts import LineChart, bar_chart, line_chart
from modelyard_console.pages._common import STAGES, console_of, page
from modelyard_console.pages._outcome import Refused, render_with_notice
from modelyard_console.pages._scoring_views import model_scoring, scoring_links, version_scoring

__all__ = ["dataset_path", "dataset_version_path", "model_page", "model_path", "routes", "version_page", "version_path"]

T = TypeVar("T")
TOP_BARS = 15  # a structured metric's bars shown before "show all"
ALIAS_ACTIONS = frozenset({"alias.set", "alias.delete"})
ALIAS_HISTORY = 50  # alias changes shown on a model's page
COLUMNS = 8  # metric columns of a model's versions table unless chosen


def routes() -> list[Route]:
    return [
        Route("/", page(_projects)),
        Route("/projects/{project}", page(_project)),
        Route("/projects/{project}/models/{model}", page(_model)),
        Route("/projects/{project}/models/{model}/versions/{version:int}", page(_version)),
    ]


async def _projects(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    projects = [project async for project in client.list_projects()]
    summaries = await asyncio.gather(*(client.project_summary(project.name) for project in projects))
    return console_of(request).render(request, "projects.html", summaries=summaries, stages=STAGES)


async def _project(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    name = request.path_params["project"]
    metric = request.query_params.get("metric", "accuracy") or "accuracy"
    summary, models = await asyncio.gather(
        client.project_summary(name, metric=metric), _listed(client.list_models(name))
    )
    return console_of(request).render(
        request, "project.html", summary=summary, metric=metric, models=models, stages=STAGES
    )


async def _model(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    return await model_page(request, client)


async def model_page(request: Request, client: modelyard.aio.AsyncClient, refused: Refused | None = None) -> Response:
    """The model page; after a refused change, with the service's refusal beside its form."""
    project = request.path_params["project"]
    name = f"{project}/{request.path_params['model']}"
    model, versions, alias_events, scoring = await asyncio.gather(
        client.get_model(name),
        _listed(client.list_versions(name)),
        _alias_history(client, project, name),
        model_scoring(client, name),
    )
    metrics = sorted({key for v in versions for key in v.metrics})
    metric = request.query_params.get("metric") or (metrics[0] if metrics else "")
    chart = line_chart([(v.version, v.metrics[metric]) for v in versions if metric in v.metrics])
    columns = [name for name in request.query_params.getlist("col") if name in metrics] or metrics[:COLUMNS]
    table = VersionTable.of(request, columns)
    return render_with_notice(
        request,
        "model.html",
        refused.status if refused else 200,
        model=model,
        versions=table.sorted(versions),
        table=table,
        metrics=metrics,
        metric=metric,
        chart=chart,
        alias_events=alias_events,
        refused=refused,
        scoring=scoring,
        **scoring_links(project),
    )


@dataclass(frozen=True)
class VersionTable:
    """A model's versions table as its URL asks: the metric columns chosen (``?col=``, the first
    ``COLUMNS`` by default) and the column it is sorted by (``?sort=version|created|METRIC``,
    ``&order=asc|desc``); every header links to its own sort, so it works without script."""

    columns: list[str]
    sort: str
    descending: bool
    query: list[tuple[str, str]]

    @classmethod
    def of(cls, request: Request, columns: list[str]) -> VersionTable:
        sort = request.query_params.get("sort", "version")
        if sort not in ("version", "created", *columns):
            sort = "version"
        kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("sort", "order")]
        return cls(columns, sort, request.query_params.get("order", "desc") != "asc", kept)

    def sorted(self, versions: list[ModelVersion]) -> list[ModelVersion]:
        """Versions lacking the sorted metric come last, in either direction."""
        if self.sort == "version":
            return sorted(versions, key=lambda v: v.version, reverse=self.descending)
        if self.sort == "created":
            created = [(v.create_time.timestamp() if v.create_time else 0.0, v.version, v) for v in versions]
            return [v for *_, v in sorted(created, key=lambda c: c[:2], reverse=self.descending)]
        having = [v for v in versions if self.sort in v.metrics]
        having.sort(key=lambda v: (v.metrics[self.sort], v.version), reverse=self.descending)
        return having + [v for v in versions if self.sort not in v.metrics]

    def aria_sort(self, column: str) -> str:
        if column != self.sort:
            return "none"
        return "descending" if self.descending else "ascending"

    def href(self, column: str) -> str:
        """The table sorted by ``column``: descending first, the other way when it already is."""
        order = "asc" if column == self.sort and self.descending else "desc"
        return "?" + urlencode([*self.query, ("sort", column), ("order", order)])


async def _alias_history(client: modelyard.aio.AsyncClient, project: str, model: str) -> list[AuditEvent]:
    """The model's alias changes, newest first (the latest ``ALIAS_HISTORY`` of them)."""
    events: list[AuditEvent] = []
    async for event in client.audit_events(project=project, resource=model):
        if event.action in ALIAS_ACTIONS:
            events.append(event)
            if len(events) == ALIAS_HISTORY:
                break
    return events


async def _version(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    return await version_page(request, client)


async def version_page(request: Request, client: modelyard.aio.AsyncClient, refused: Refused | None = None) -> Response:
    """The version page; after a refused change, with the service's refusal beside its form."""
    project, model_name = request.path_params["project"], request.path_params["model"]
    reference = f"{project}/{model_name}:{request.path_params['version']}"
    version, model, summary, lineage, events, consumers = await asyncio.gather(
        client.get_version(reference),
        client.get_model(f"{project}/{model_name}"),
        client.project_summary(project, metric="accuracy"),
        client.lineage(reference),
        _listed(client.audit_events(project=project, resource=reference, limit=50)),
        client.version_consumers(reference),
    )
    scalars = dict(sorted(version.metrics.items()))
    histories, (deployments, deployments_refusal), datasets, scoring = await asyncio.gather(
        asyncio.gather(*(client.metric_history(reference, name) for name in scalars)),
        _serving(client, project, version.reference),
        client.dataset_links(version.reference),
        version_scoring(client, f"{project}/{model_name}", version.reference),
    )
    show_all = request.query_params.get("all") == "1"
    charts = {
        name: bar_chart(numbers, None if show_all else TOP_BARS)
        for name, value in sorted(version.custom_metrics.items())
        if (numbers := {key: float(v) for key, v in value.items() if isinstance(v, int | float)})
    }
    context: dict[str, Any] = {
        "version": version,
        "model": model,
        "scalars": scalars,
        "charts": charts,
        "histories": {name: _history_chart(points) for name, points in zip(scalars, histories, strict=True)},
        "band": summary.metric,
        "consumers": consumers,
        "teams": sorted({team for consumer in consumers.consumers for team in consumer.teams}),
        "events": events,
        "show_all": show_all,
        "upstream": sorted((n for n in lineage.nodes if n.depth < 0), key=lambda n: (-n.depth, n.reference)),
        "downstream": sorted((n for n in lineage.nodes if n.depth > 0), key=lambda n: (n.depth, n.reference)),
        "left_out": lineage.left_out,
        "deployments": deployments,
        "deployments_refusal": deployments_refusal,
        "stages": [stage for stage in STAGES if stage is not version.stage],
        "refused": refused,
        "version_path": version_path,
        "datasets": datasets,
        "dataset_version_path": dataset_version_path,
        "scoring": scoring,
        **scoring_links(project),
    }
    return render_with_notice(request, "version.html", refused.status if refused else 200, **context)


def _history_chart(points: list[MetricPoint]) -> tuple[LineChart, str]:
    """A scalar metric's history and what its x axis is: the step when each point has its own,
    else the seconds since the first point was logged."""
    values = [(point, float(point.value)) for point in points if isinstance(point.value, int | float)]
    if len({point.step for point, _ in values}) == len(values):
        return line_chart([(point.step, value) for point, value in values]), "step"
    times = [point.time.timestamp() if point.time else 0.0 for point, _ in values]
    start = min(times, default=0.0)
    return line_chart([(at - start, value) for at, (_, value) in zip(times, values, strict=True)]), "seconds"


async def _serving(client: modelyard.aio.AsyncClient, project: str, reference: str) -> tuple[list[Deployment], str]:
    """The deployments serving ``reference``, or why the deploy service could not list them
    (refused, or down): that section says so instead of the page failing."""
    try:
        return [d async for d in client.list_deployments(project=project) if d.version_reference == reference], ""
    except ModelyardError as exc:
        return [], exc.message


def model_path(name: str) -> str:
    """The page of model ``name`` ("project/model")."""
    return _path("models", name)


def version_path(reference: str) -> str:
    """The page of version ``reference`` ("project/model:N")."""
    model, _, number = reference.rpartition(":")
    return f"{model_path(model)}/versions/{number}"


def dataset_path(name: str) -> str:
    """The page of dataset ``name`` ("project/dataset")."""
    return _path("datasets", name)


def dataset_version_path(reference: str) -> str:
    """The page of dataset version ``reference`` ("project/dataset:N")."""
    dataset, _, number = reference.rpartition(":")
    return f"{dataset_path(dataset)}/versions/{number}"


def _path(kind: str, name: str) -> str:
    """The page of ``name`` ("project/item"), one of a project's ``kind`` ("models", "datasets")."""
    project, _, item = name.partition("/")
    return f"/projects/{quote(project, safe='')}/{kind}/{quote(item, safe='')}"


async def _listed(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]
