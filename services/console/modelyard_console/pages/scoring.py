"""A project's scoring pages (docs/scoring.md, "Score logic and scoring tests"): its scoring
tests with their last runs; a test's page with its settings, its model's score definition, its
runs (paged, newest first), a chart of a metric over them and its forms (run now,
activate/deactivate, change the schedule); and a run's page with its metrics held against the
thresholds and its confusion matrix.

Each form is a POST with the session's CSRF token (checked by the app) and one SDK call; the
scoring service decides who may (editors run and change tests; admins alone deactivate a gated
one). A change redirects back with a one-line confirmation; a refusal shows the page again with
the service's message beside the form and what was typed kept.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard.aio
from modelyard import ScoringRun, ScoringTest
from modelyard.errors import InvalidArgumentError, ModelyardError, NotFoundError
from modelyard_console.charts import line_chart
from modelyard_console.pages._common import page
from modelyard_console.pages._outcome import Refused, confirm, form_text, render_with_notice, submitted
from modelyard_console.pages._scoring_views import (
    heat_grid,
    key_metrics,
    metric_rows,
    scalars,
    score_definition,
    scoring_links,
    scoring_path,
    test_path,
)
from modelyard_console.pages.catalog import dataset_version_path, model_path, version_path

__all__ = ["routes"]

_SECTION = "/projects/{project}/scoring"
_TEST = _SECTION + "/tests/{id}"
PAGE_SIZE = 25  # runs per page of a test's runs
CHARTED = 200  # the newest runs drawn in a test's chart


def routes() -> list[Route]:
    return [
        Route(_SECTION, page(_tests), methods=["GET"]),
        Route(_TEST, page(_test), methods=["GET"]),
        Route(_TEST + "/run", page(_run_now), methods=["POST"]),
        Route(_TEST + "/active", page(_set_active), methods=["POST"]),
        Route(_TEST + "/schedule", page(_set_schedule), methods=["POST"]),
        Route(_SECTION + "/runs/{id}", page(_run)),
    ]


def _shared(project: str) -> dict[str, Any]:
    """What every scoring template uses to link and badge."""
    return {
        "project": project,
        **scoring_links(project),
        "model_path": model_path,
        "version_path": version_path,
        "dataset_version_path": dataset_version_path,
    }


async def _tests(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    project = request.path_params["project"]
    tests = await client.list_scoring_tests(project)
    return render_with_notice(request, "scoring_tests.html", tests=tests, **_shared(project))


async def _test(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    return await _test_page(request, client)


async def _test_page(request: Request, client: modelyard.aio.AsyncClient, refused: Refused | None = None) -> Response:
    """The test's page with a page of its runs (``?page_token=``) and the chart of one metric
    (``?metric=``) over its newest ``CHARTED`` runs, oldest first."""
    test = await _owned(request, client)
    token = request.query_params.get("page_token", "")
    runs_page, charted, (definition, definition_refusal) = await asyncio.gather(
        client.scoring_runs_page(test_id=test.id, page_size=PAGE_SIZE, page_token=token),
        _listed_runs(client, test.id),
        score_definition(client, test.model),
    )
    metrics = key_metrics(charted, most=50)
    metric = request.query_params.get("metric", "")
    metric = metric if metric in metrics else (metrics[0] if metrics else "")
    points = [values[metric] for run in reversed(charted) if metric in (values := scalars(run))]
    here = test_path(test)
    context: dict[str, Any] = {
        "test": test,
        "definition": definition,
        "definition_refusal": definition_refusal,
        "runs": runs_page.runs,
        "columns": key_metrics(runs_page.runs),
        "metrics": metrics,
        "metric": metric,
        "chart": line_chart([(number, value) for number, value in enumerate(points, start=1)]),
        "older": f"{here}?{urlencode({'page_token': runs_page.next_page_token})}" if runs_page.next_page_token else "",
        "newest": here if token else "",
        "here": here,
        "refused": refused,
        **_shared(request.path_params["project"]),
    }
    return render_with_notice(request, "scoring_test.html", refused.status if refused else 200, **context)


async def _listed_runs(client: modelyard.aio.AsyncClient, test_id: str) -> list[ScoringRun]:
    return [run async for run in client.list_scoring_runs(test_id=test_id, limit=CHARTED)]


async def _owned(request: Request, client: modelyard.aio.AsyncClient) -> ScoringTest:
    """The test the URL names, if it is of the project the URL names (else as if it did not exist)."""
    id, project = request.path_params["id"], request.path_params["project"]
    test = await client.get_scoring_test(id)
    if test.model.partition("/")[0] != project:
        raise NotFoundError(f"id: no scoring test {id} in project {project}")
    return test


async def _run_now(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    form = await request.form()
    try:
        test = await _owned(request, client)
        typed = form_text(form, "version")
        if typed and not typed.isdigit():
            raise InvalidArgumentError(f"version: {typed!r} is not a version number")
        run = await client.run_scoring_test(test.id, version=int(typed or 0))
    except ModelyardError as exc:
        return await _test_page(request, client, Refused("run", exc, submitted(form)))
    scored = f"version {typed}" if typed else test.target
    return confirm(request, test_path(test), f"Run {run.id} of {test.name} on {scored} is queued.")


async def _set_active(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    form = await request.form()
    active = form_text(form, "active") == "true"
    try:
        test = await _owned(request, client)
        await client.update_scoring_test(test.id, active=active, reason=form_text(form, "reason"))
    except ModelyardError as exc:
        return await _test_page(request, client, Refused("active", exc, submitted(form)))
    said = "active: it runs on its events and schedule"
    if not active:
        said = "inactive: it runs only on request and gates nothing"
    return confirm(request, test_path(test), f"The test is {said}.")


async def _set_schedule(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    form = await request.form()
    schedule = form_text(form, "schedule")
    try:
        test = await _owned(request, client)
        await client.update_scoring_test(test.id, schedule=schedule, reason=form_text(form, "reason"))
    except ModelyardError as exc:
        return await _test_page(request, client, Refused("schedule", exc, submitted(form)))
    said = f"The test runs on the schedule {schedule} (UTC)." if schedule else "The test has no schedule now."
    return confirm(request, test_path(test), said)


async def _run(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    project = request.path_params["project"]
    run = await client.get_scoring_run(request.path_params["id"])
    model = run.model_version.rpartition(":")[0] or await _model_of(client, run)
    if model.partition("/")[0] != project:
        raise NotFoundError(f"id: no scoring run {run.id} in project {project}")
    definition, _ = await score_definition(client, model)
    thresholds = definition.thresholds if definition else ()
    return render_with_notice(
        request,
        "scoring_run.html",
        run=run,
        model=model,
        rows=metric_rows(run, thresholds) if run.state.finished else [],
        grid=heat_grid(run.metrics),
        test_href=f"{scoring_path(project)}/tests/{quote(run.test_id, safe='')}",
        **_shared(project),
    )


async def _model_of(client: modelyard.aio.AsyncClient, run: ScoringRun) -> str:
    """The model of a run not yet resolved to a version: its test's (a deleted test: unknown)."""
    try:
        return (await client.get_scoring_test(run.test_id)).model
    except NotFoundError:
        return ""
