"""The catalog's pages: projects, a project, a model, a version."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard.aio
from modelyard import ModelVersion
from modelyard.errors import ModelyardError
from modelyard_console.charts import bar_chart
from modelyard_console.pages._common import STAGES, console_of, page

__all__ = ["routes"]

TOP_BARS = 15  # a structured metric's bars shown before "show all"


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
    summary = await client.project_summary(name, metric=metric)
    models = [model async for model in client.list_models(name)]
    latest = await asyncio.gather(*(_latest(client, f"{name}/{model.name}") for model in models))
    return console_of(request).render(
        request,
        "project.html",
        summary=summary,
        metric=metric,
        rows=list(zip(models, latest, strict=True)),
        stages=STAGES,
    )


async def _latest(client: modelyard.aio.AsyncClient, model: str) -> ModelVersion | None:
    """The version a model's lifecycle indicator shows: its champion, else its newest."""
    try:
        return await client.get_version(f"{model}@champion")
    except ModelyardError:
        async for version in client.list_versions(model):
            return version
    return None


async def _model(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    name = f"{request.path_params['project']}/{request.path_params['model']}"
    model = await client.get_model(name)
    versions = [version async for version in client.list_versions(name)]
    metrics = sorted({key for v in versions for key in v.metrics})
    return console_of(request).render(request, "model.html", model=model, versions=versions, metrics=metrics)


async def _version(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    project, model_name = request.path_params["project"], request.path_params["model"]
    reference = f"{project}/{model_name}:{request.path_params['version']}"
    version, model = await asyncio.gather(client.get_version(reference), client.get_model(f"{project}/{model_name}"))
    summary = await client.project_summary(project, metric="accuracy")
    show_all = request.query_params.get("all") == "1"
    charts = {
        name: bar_chart(numbers, None if show_all else TOP_BARS)
        for name, value in sorted(version.custom_metrics.items())
        if (numbers := {key: float(v) for key, v in value.items() if isinstance(v, int | float)})
    }
    events = [event async for event in client.audit_events(project=project, resource=reference, limit=50)]
    context: dict[str, Any] = {
        "version": version,
        "model": model,
        "scalars": dict(sorted(version.metrics.items())),
        "charts": charts,
        "band": summary.metric,
        "events": events,
        "show_all": show_all,
    }
    return console_of(request).render(request, "version.html", **context)
