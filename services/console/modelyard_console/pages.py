"""The pages: each a URL a person can share, rendered from the services' answers for the
signed-in user. A service's refusal (NOT_FOUND, PERMISSION_DENIED...) is shown as its own
message with the matching HTTP status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard.aio
from modelyard import ModelVersion, Stage
from modelyard.errors import ModelyardError
from modelyard_console.charts import bar_chart

if TYPE_CHECKING:
    from modelyard_console.app import Console

__all__ = ["routes"]

STAGES = (Stage.DEVELOPMENT, Stage.VALIDATION, Stage.PRODUCTION, Stage.ARCHIVED)
TOP_BARS = 15  # a structured metric's bars shown before "show all"
_STATUS = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "FAILED_PRECONDITION": 409,
    "UNAVAILABLE": 503,
}

Page = Callable[[Request, modelyard.aio.AsyncClient], Awaitable[Response]]


def routes() -> list[Route]:
    return [
        Route("/", _page(_projects)),
        Route("/projects/{project}", _page(_project)),
        Route("/projects/{project}/models/{model}", _page(_model)),
        Route("/projects/{project}/models/{model}/versions/{version:int}", _page(_version)),
    ]


def _page(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """Runs ``page`` with a client acting as the session's user; a service error becomes an
    error page with the service's message."""

    async def endpoint(request: Request) -> Response:
        console: Console = request.app.state.console
        try:
            async with console.client(request.scope["session_record"].token) as client:
                return await page(request, client)
        except ModelyardError as exc:
            return console.render(request, "error.html", _STATUS.get(exc.code, 500), error=exc)

    return endpoint


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


async def _projects(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    projects = [project async for project in client.list_projects()]
    summaries = await asyncio.gather(*(client.project_summary(project.name) for project in projects))
    return _console(request).render(request, "projects.html", summaries=summaries, stages=STAGES)


async def _project(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    name = request.path_params["project"]
    metric = request.query_params.get("metric", "accuracy") or "accuracy"
    summary = await client.project_summary(name, metric=metric)
    models = [model async for model in client.list_models(name)]
    latest = await asyncio.gather(*(_latest(client, f"{name}/{model.name}") for model in models))
    return _console(request).render(
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
    return _console(request).render(request, "model.html", model=model, versions=versions, metrics=metrics)


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
    return _console(request).render(request, "version.html", **context)
