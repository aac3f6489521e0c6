"""A project's batch scoring jobs (docs/scoring.md, "Batch scoring jobs"): the list, newest
first, and a job's page with its progress, followed live (Server-Sent Events fed by WatchJob,
see ``live``) while it runs, and a Cancel form (a POST with the session's CSRF token; the deploy
service decides who may, and its refusal is shown beside the form with the reason typed kept).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard.aio
from modelyard import Job
from modelyard.errors import ModelyardError, NotFoundError
from modelyard_console.pages import live
from modelyard_console.pages._badges import state_class
from modelyard_console.pages._common import page
from modelyard_console.pages._outcome import Refused, confirm, form_text, render_with_notice, submitted
from modelyard_console.pages.catalog import dataset_path, dataset_version_path, version_path

__all__ = ["routes"]

_LIST = "/projects/{project}/jobs"
_ONE = _LIST + "/{id}"
SHOWN = 100  # the newest jobs listed


def routes() -> list[Route]:
    return [
        Route(_LIST, page(_jobs)),
        Route(_ONE, page(_job), methods=["GET"]),
        Route(_ONE + "/stream", page(_stream)),
        Route(_ONE + "/cancel", page(_cancel), methods=["POST"]),
    ]


def job_path(job: Job) -> str:
    return f"/projects/{quote(job.project, safe='')}/jobs/{quote(job.id, safe='')}"


def progress(job: Job) -> dict[str, Any]:
    """What the job's page shows of its state and progress, and what its live feed sends."""
    return {
        "state": job.state.value,
        "state_class": state_class(job.state),
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "chunks_done": job.chunks_done,
        "chunks_total": job.chunks_total,
        "percent": round(100 * job.rows_done / job.rows_total) if job.rows_total else 0,
        "error": job.error,
        "output_version": job.output_version,
        "output_href": dataset_version_path(job.output_version) if job.output_version else "",
        "finished": job.state.finished,
    }


def _links() -> dict[str, Any]:
    return {
        "job_path": job_path,
        "progress": progress,
        "version_path": version_path,
        "dataset_path": dataset_path,
        "dataset_version_path": dataset_version_path,
    }


async def _jobs(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    project = request.path_params["project"]
    jobs = [job async for job in client.list_jobs(project, limit=SHOWN)]
    return render_with_notice(request, "jobs.html", project=project, jobs=jobs, most=SHOWN, **_links())


async def _job(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    return await _job_page(request, client)


async def _job_page(request: Request, client: modelyard.aio.AsyncClient, refused: Refused | None = None) -> Response:
    job = await _owned(request, client)
    return render_with_notice(
        request, "job.html", refused.status if refused else 200, job=job, refused=refused, **_links()
    )


async def _owned(request: Request, client: modelyard.aio.AsyncClient) -> Job:
    """The job the URL names, if it is of the project the URL names (else as if it did not exist)."""
    id, project = request.path_params["id"], request.path_params["project"]
    job = await client.get_job(id)
    if job.project != project:
        raise NotFoundError(f"id: job {id!r} does not exist")
    return job


async def _stream(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    job = await _owned(request, client)  # a refusal becomes this response's status, before streaming

    async def watch(client: modelyard.aio.AsyncClient) -> AsyncIterator[str]:
        async for now in client.watch_job(job.id):
            yield live.message("job", progress(now))
        yield live.message("end", {"message": "The job has finished."})

    return live.event_stream(request, watch)


async def _cancel(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    form = await request.form()
    try:
        job = await _owned(request, client)
        cancelled = await client.cancel_job(job.id, reason=form_text(form, "reason"))
    except ModelyardError as exc:
        return await _job_page(request, client, Refused("cancel", exc, submitted(form)))
    return confirm(request, job_path(cancelled), f"The job is {cancelled.state.value}: nothing of its output is kept.")
