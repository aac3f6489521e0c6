"""The calls of WebhookService (served by the metadata service), written once for ``Client``
and ``AsyncClient`` (see ``_calls``), with their conversions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelyard._calls import Calls, Pages, R, Unary, iterating, nothing, unary
from modelyard._connection import WEBHOOKS
from modelyard._convert import optional_time
from modelyard._webhook_types import DeliveryPage, NewWebhookSecret, PingResult, WebhookDelivery, WebhookSubscription
from modelyard.v1 import webhooks_pb2

__all__ = ["WebhookCalls"]


def _kinds(kinds: Iterable[str]) -> list[str]:
    """``kinds`` as a list; a lone string would otherwise be taken letter by letter."""
    if isinstance(kinds, str):
        raise TypeError(f"kinds: expected a list of event kinds, got the string {kinds!r}")
    return list(kinds)


def subscription_from_pb(message: webhooks_pb2.WebhookSubscription) -> WebhookSubscription:
    return WebhookSubscription(
        id=message.id,
        project=message.project,
        url=message.url,
        kinds=tuple(message.kinds),
        description=message.description,
        active=message.active,
        failing=message.failing,
        created_by=message.created_by,
        created_at=optional_time(message, "create_time"),
        previous_secret_expires_at=optional_time(message, "previous_secret_expires_at"),
        backlog=message.backlog,
    )


def delivery_from_pb(message: webhooks_pb2.WebhookDelivery) -> WebhookDelivery:
    return WebhookDelivery(
        id=message.id,
        subscription_id=message.subscription_id,
        event_id=message.event_id,
        kind=message.kind,
        state=message.state,
        attempts=message.attempts,
        response_code=message.response_code,
        error=message.error,
        created_at=optional_time(message, "create_time"),
        last_attempt_at=optional_time(message, "last_attempt_time"),
        next_attempt_at=optional_time(message, "next_attempt_time"),
    )


def _subscription(response: Any) -> WebhookSubscription:
    return subscription_from_pb(response.subscription)


def _with_secret(response: Any) -> NewWebhookSecret:
    return NewWebhookSecret(subscription_from_pb(response.subscription), response.secret)


class WebhookCalls(Calls[R]):
    """Every WebhookService method: a project ADMIN's."""

    @unary
    def create_webhook(
        self, project: str, url: str, *, kinds: Iterable[str] = (), description: str = ""
    ) -> Unary[NewWebhookSecret]:
        """Subscribes ``url`` to the events of ``project`` of ``kinds`` (empty: every kind:
        version.created, version.ready, version.failed, version.stage_changed, alias.moved,
        scoring_test.passed, scoring_test.failed, scoring_test.error).
        The secret that signs the deliveries is returned this once."""
        request = webhooks_pb2.CreateSubscriptionRequest(
            project=project, url=url, kinds=_kinds(kinds), description=description
        )
        return Unary("CreateSubscription", request, _with_secret, service=WEBHOOKS)

    @unary
    def get_webhook(self, id: str) -> Unary[WebhookSubscription]:
        return Unary("GetSubscription", webhooks_pb2.GetSubscriptionRequest(id=id), _subscription, service=WEBHOOKS)

    @unary
    def webhooks(self, project: str) -> Unary[list[WebhookSubscription]]:
        """The subscriptions of ``project``, oldest first."""
        request = webhooks_pb2.ListSubscriptionsRequest(project=project)
        return Unary(
            "ListSubscriptions", request, lambda r: [subscription_from_pb(s) for s in r.subscriptions], service=WEBHOOKS
        )

    @unary
    def update_webhook(
        self,
        id: str,
        *,
        url: str | None = None,
        kinds: Iterable[str] | None = None,
        active: bool | None = None,
        description: str | None = None,
    ) -> Unary[WebhookSubscription]:
        """Changes what is given (None: kept). An inactive subscription queues no events."""
        request = webhooks_pb2.UpdateSubscriptionRequest(id=id)
        if url is not None:
            request.url = url
        if kinds is not None:
            request.kinds.SetInParent()
            request.kinds.kinds.extend(_kinds(kinds))
        if active is not None:
            request.active = active
        if description is not None:
            request.description = description
        return Unary("UpdateSubscription", request, _subscription, service=WEBHOOKS)

    @unary
    def delete_webhook(self, id: str) -> Unary[None]:
        """Forgets the subscription and its delivery log."""
        return Unary("DeleteSubscription", webhooks_pb2.DeleteSubscriptionRequest(id=id), nothing, service=WEBHOOKS)

    @unary
    def rotate_webhook_secret(self, id: str) -> Unary[NewWebhookSecret]:
        """A new signing secret, returned this once; the previous one keeps signing beside it
        until ``previous_secret_expires_at``."""
        return Unary("RotateSecret", webhooks_pb2.RotateSecretRequest(id=id), _with_secret, service=WEBHOOKS)

    @iterating
    def webhook_deliveries(self, id: str, *, limit: int | None = None) -> Pages[WebhookDelivery]:
        """The delivery log of subscription ``id``, newest first."""
        request = webhooks_pb2.ListDeliveriesRequest(subscription_id=id)
        return Pages("ListDeliveries", request, lambda r: map(delivery_from_pb, r.deliveries), limit, service=WEBHOOKS)

    @unary
    def webhook_deliveries_page(self, id: str, *, page_size: int = 0, page_token: str = "") -> Unary[DeliveryPage]:
        """One page of ``webhook_deliveries`` and the token of the next, for callers that fetch
        pages on demand (a web page's "older" link); ``page_size`` 0 is the server's."""
        request = webhooks_pb2.ListDeliveriesRequest(subscription_id=id, page_size=page_size, page_token=page_token)

        def convert(response: webhooks_pb2.ListDeliveriesResponse) -> DeliveryPage:
            return DeliveryPage(tuple(map(delivery_from_pb, response.deliveries)), response.next_page_token)

        return Unary("ListDeliveries", request, convert, service=WEBHOOKS)

    @unary
    def redeliver_webhook(self, id: str, event_id: int) -> Unary[WebhookDelivery]:
        """Queues audit event ``event_id`` for subscription ``id`` again (it must have been
        queued for it before); it is sent next."""
        request = webhooks_pb2.RedeliverRequest(subscription_id=id, event_id=event_id)
        return Unary("Redeliver", request, lambda r: delivery_from_pb(r.delivery), service=WEBHOOKS)

    @unary
    def ping_webhook(self, id: str) -> Unary[PingResult]:
        """Sends a ``ping`` event to the subscription's URL now; what the receiver answered."""
        return Unary(
            "Ping",
            webhooks_pb2.PingRequest(id=id),
            lambda r: PingResult(r.response_code, r.error, r.seconds),
            service=WEBHOOKS,
        )
