"""The deployments' pages: the list, one deployment with its live status (Server-Sent Events fed
by WatchDeployment, see ``live``), and its forms: roll forward, roll back, scale, try it.

The forms are shown to everyone signed in: the deploy service decides who may change what, and
its refusal is shown inline with its own message and the matching status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import modelyard.aio
from modelyard import Deployment
from modelyard.errors import InvalidArgumentError, ModelyardError
from modelyard_console.pages import live, try_it
from modelyard_console.pages._common import console_of, page, status_of

__all__ = ["routes"]

Change = Callable[[modelyard.aio.AsyncClient, str, FormData], Awaitable[object]]


def routes() -> list[Route]:
    return [
        Route("/deployments", page(_deployments)),
        Route("/deployments/{name}", page(_deployment)),
        Route("/deployments/{name}/stream", page(_stream)),
        Route("/deployments/{name}/roll-forward", page(_changing("roll-forward", _roll_forward)), methods=["POST"]),
        Route("/deployments/{name}/roll-back", page(_changing("roll-back", _roll_back)), methods=["POST"]),
        Route("/deployments/{name}/scale", page(_changing("scale", _scale)), methods=["POST"]),
        Route("/deployments/{name}/try", page(_try), methods=["POST"]),
    ]


async def _deployments(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    project = request.query_params.get("project", "").strip()
    deployments = [deployment async for deployment in client.list_deployments(project=project)]
    rows = [(deployment, version_href(deployment.version_reference)) for deployment in deployments]
    return console_of(request).render(request, "deployments.html", rows=rows, project=project)


async def _deployment(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    return await _show(request, client)


async def _show(request: Request, client: modelyard.aio.AsyncClient, status: int = 200, **notes: Any) -> Response:
    """The deployment's page; ``notes`` say how a form went (``refused``, ``form``, ``entered``,
    ``tried``, ``outputs``, ``try_error``)."""
    name = request.path_params["name"]
    deployment, revisions = await asyncio.gather(client.get_deployment(name), client.deployment_revisions(name))
    return console_of(request).render(
        request,
        "deployment.html",
        status,
        deployment=deployment,
        live=status_fields(deployment),
        revisions=revisions,
        version_href=version_href,
        **notes,
    )


async def _stream(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    name = request.path_params["name"]
    await client.get_deployment(name)  # a refusal becomes this response's status, before streaming

    async def watch(client: modelyard.aio.AsyncClient) -> AsyncIterator[str]:
        async for deployment in client.watch_deployment(name):
            yield live.message("deployment", status_fields(deployment))
        yield live.message("end", {"message": f"deployment {name} was deleted"})

    return live.event_stream(request, watch)


def status_fields(deployment: Deployment) -> dict[str, Any]:
    """What changes while a deployment runs: rendered by the template, or sent for live.js."""
    return {
        "state": str(deployment.state),
        "status_message": deployment.status_message,
        "ready": f"{deployment.ready_replicas}/{deployment.replicas}",
        "revision": deployment.revision,
        "version": deployment.version_reference,
        "version_href": version_href(deployment.version_reference),
        "endpoints": list(deployment.endpoints),
        "replicas": [
            {
                "id": replica.id,
                "revision": replica.revision,
                "state": str(replica.state),
                "endpoint": replica.endpoint,
                "restarts": replica.restarts,
                "message": replica.message,
            }
            for replica in deployment.replica_status
        ],
    }


def version_href(reference: str) -> str:
    """The console's page of version "PROJECT/MODEL:N"; "" for anything else."""
    model, _, number = reference.rpartition(":")
    project, _, name = model.partition("/")
    if not (project and name and number.isdigit()):
        return ""
    return f"/projects/{quote(project, safe='')}/models/{quote(name, safe='')}/versions/{number}"


def _changing(form: str, change: Change) -> Callable[[Request, modelyard.aio.AsyncClient], Awaitable[Response]]:
    """A form's POST: the change, then back to the page (post/redirect/get); a refusal is shown
    on the page, beside the form, with what was entered."""

    async def endpoint(request: Request, client: modelyard.aio.AsyncClient) -> Response:
        name = request.path_params["name"]
        fields = await request.form()
        try:
            await change(client, name, fields)
        except ModelyardError as exc:
            entered = {key: str(value) for key, value in fields.items() if key != "csrf"}
            return await _show(request, client, status_of(exc), form=form, refused=exc.message, entered=entered)
        return RedirectResponse(f"/deployments/{quote(name, safe='')}", status_code=303)

    return endpoint


async def _roll_forward(client: modelyard.aio.AsyncClient, name: str, fields: FormData) -> object:
    reference = str(fields.get("reference", "")).strip()
    if not reference:
        raise InvalidArgumentError(
            'reference: give the version to serve, e.g. "fraud/scorer:4" or "fraud/scorer@champion"'
        )
    return await client.update_deployment(name, reference=reference, reason=_reason(fields))


async def _roll_back(client: modelyard.aio.AsyncClient, name: str, fields: FormData) -> object:
    revision = _whole("revision", fields.get("revision", "0"))
    return await client.rollback_deployment(name, revision=revision, reason=_reason(fields))


async def _scale(client: modelyard.aio.AsyncClient, name: str, fields: FormData) -> object:
    replicas = _whole("replicas", fields.get("replicas", ""))
    return await client.update_deployment(name, replicas=replicas, reason=_reason(fields))


async def _try(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    fields = await request.form()
    text = str(fields.get("inputs", ""))
    try:
        token = request.scope["session_record"].token
        outputs = await try_it.predict(client, token, request.path_params["name"], try_it.read_inputs(text))
    except ModelyardError as exc:
        return await _show(request, client, status_of(exc), tried=text, try_error=exc.message)
    return await _show(request, client, tried=text, outputs=outputs)


def _reason(fields: FormData) -> str:
    return str(fields.get("reason", "")).strip()


def _whole(field: str, value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise InvalidArgumentError(f"{field}: {str(value)!r} is not a whole number") from None
