"""A project's webhook subscriptions (a project ADMIN's pages: the metadata service refuses
anyone else, and the page shows its refusal): the list with a form to subscribe a URL, and a
subscription's page with its delivery log, paged newest first, and its forms: activate or
deactivate, ping, redeliver an event, rotate the secret, delete.

Each form is a POST with the session's CSRF token (checked by the app for every POST) and one
SDK call. A signing secret (on creation and rotation) is shown in the page answering the POST
itself, once: it is never put in a redirect, a cookie or a URL. Other changes redirect back
with a one-line confirmation; a refusal shows the page again with the service's message beside
the form, and what was typed kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard.aio
from modelyard import WEBHOOK_KINDS, NewWebhookSecret, WebhookSubscription
from modelyard.errors import InvalidArgumentError, ModelyardError, NotFoundError
from modelyard_console.pages._common import page
from modelyard_console.pages._outcome import Refused, confirm, form_text, render_with_notice, submitted

__all__ = ["routes"]

_LIST = "/projects/{project}/webhooks"
_ONE = _LIST + "/{id}"
PAGE_SIZE = 25  # deliveries per page of the log


def routes() -> list[Route]:
    return [
        Route(_LIST, page(_subscriptions), methods=["GET"]),
        Route(_LIST, page(_create), methods=["POST"]),
        Route(_ONE, page(_subscription), methods=["GET"]),
        Route(_ONE + "/active", page(_set_active), methods=["POST"]),
        Route(_ONE + "/ping", page(_ping), methods=["POST"]),
        Route(_ONE + "/redeliver", page(_redeliver), methods=["POST"]),
        Route(_ONE + "/rotate", page(_rotate), methods=["POST"]),
        Route(_ONE + "/delete", page(_delete), methods=["POST"]),
    ]


def subscriptions_path(project: str) -> str:
    return f"/projects/{quote(project, safe='')}/webhooks"


def subscription_path(subscription: WebhookSubscription) -> str:
    return f"{subscriptions_path(subscription.project)}/{quote(subscription.id, safe='')}"


async def _subscriptions(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    return await _list_page(request, client)


async def _list_page(request: Request, client: modelyard.aio.AsyncClient, refused: Refused | None = None) -> Response:
    project = request.path_params["project"]
    subscriptions = await client.webhooks(project)
    return render_with_notice(
        request,
        "webhooks.html",
        refused.status if refused else 200,
        project=project,
        subscriptions=subscriptions,
        kinds=WEBHOOK_KINDS,
        refused=refused,
        subscription_path=subscription_path,
    )


async def _create(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    form = await request.form()
    project = request.path_params["project"]
    kinds = [kind for kind in form.getlist("kinds") if isinstance(kind, str)]
    try:
        created = await client.create_webhook(
            project, form_text(form, "url"), kinds=kinds, description=form_text(form, "description")
        )
    except ModelyardError as exc:
        typed = {**submitted(form), "kinds": " ".join(kinds)}
        return await _list_page(request, client, Refused("create", exc, typed))
    return await _subscription_page(request, client, created.subscription.id, secret=created, status=201)


async def _subscription(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    return await _subscription_page(request, client, request.path_params["id"])


async def _subscription_page(
    request: Request,
    client: modelyard.aio.AsyncClient,
    id: str,
    *,
    refused: Refused | None = None,
    secret: NewWebhookSecret | None = None,
    status: int = 200,
) -> Response:
    """The subscription's page with a page of its delivery log (``?page_token=``); with the new
    secret once after it was made or rotated, or the service's refusal beside its form."""
    subscription = await _owned(request, client, id)
    token = request.query_params.get("page_token", "")
    log = await client.webhook_deliveries_page(id, page_size=PAGE_SIZE, page_token=token)
    here = subscription_path(subscription)
    context: dict[str, Any] = {
        "subscription": subscription,
        "deliveries": log.deliveries,
        "older": f"{here}?{urlencode({'page_token': log.next_page_token})}" if log.next_page_token else "",
        "newest": here if token else "",
        "here": here,
        "secret": secret.secret if secret else "",
        "refused": refused,
        "list_path": subscriptions_path(subscription.project),
    }
    return render_with_notice(request, "webhook.html", refused.status if refused else status, **context)


async def _owned(request: Request, client: modelyard.aio.AsyncClient, id: str) -> WebhookSubscription:
    """Subscription ``id``, if it is of the project the URL names (else as if it did not exist)."""
    subscription = await client.get_webhook(id)
    if subscription.project != request.path_params["project"]:
        raise NotFoundError(f"id: no webhook subscription {id} in project {request.path_params['project']}")
    return subscription


async def _set_active(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    form = await request.form()
    id = request.path_params["id"]
    try:
        await _owned(request, client, id)
        active = form_text(form, "active") == "true"
        subscription = await client.update_webhook(id, active=active)
    except ModelyardError as exc:
        return await _subscription_page(request, client, id, refused=Refused("active", exc, submitted(form)))
    said = "active: its events are queued" if active else "inactive: no event is queued for it"
    return confirm(request, subscription_path(subscription), f"The subscription is {said}.")


async def _ping(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    id = request.path_params["id"]
    try:
        subscription = await _owned(request, client, id)
        answer = await client.ping_webhook(id)
    except ModelyardError as exc:
        return await _subscription_page(request, client, id, refused=Refused("ping", exc))
    if answer.response_code:
        said = f"The receiver answered the ping with HTTP {answer.response_code} in {answer.seconds:.3f} s."
    else:
        said = f"The receiver did not answer the ping: {answer.error}"
    return confirm(request, subscription_path(subscription), said)


async def _redeliver(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    form = await request.form()
    id = request.path_params["id"]
    try:
        subscription = await _owned(request, client, id)
        event = form_text(form, "event_id")
        if not event.isdigit():
            raise InvalidArgumentError(f"event_id: {event!r} is not an event's number")
        delivery = await client.redeliver_webhook(id, int(event))
    except ModelyardError as exc:
        return await _subscription_page(request, client, id, refused=Refused("redeliver", exc, submitted(form)))
    said = f"Event {delivery.event_id} ({delivery.kind}) is queued again; it is sent next."
    return confirm(request, subscription_path(subscription), said)


async def _rotate(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    id = request.path_params["id"]
    try:
        await _owned(request, client, id)
        rotated = await client.rotate_webhook_secret(id)
    except ModelyardError as exc:
        return await _subscription_page(request, client, id, refused=Refused("rotate", exc))
    return await _subscription_page(request, client, id, secret=rotated)


async def _delete(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    id = request.path_params["id"]
    try:
        subscription = await _owned(request, client, id)
        await client.delete_webhook(id)
    except ModelyardError as exc:
        return await _subscription_page(request, client, id, refused=Refused("delete", exc))
    return confirm(
        request, subscriptions_path(subscription.project), f"The subscription to {subscription.url} is deleted."
    )
