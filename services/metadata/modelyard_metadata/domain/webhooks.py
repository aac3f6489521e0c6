"""Webhook subscriptions: a project's ADMIN subscribes a URL to some of its event kinds, reads
the delivery log, rotates the signing secret, asks for a redelivery or a test ping.

A subscription is found by id; a caller who may not read its project is told it does not exist,
as is said of anything in a project it cannot read. Each change writes its audit event in the
same transaction; the secret is in none of them, and is returned only when made.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from modelyard_common.errors import InvalidArgumentError, NotFoundError
from modelyard_metadata.domain.access import AccessDenied, Role
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.entities import Caller, NewAuditEvent
from modelyard_metadata.domain.guard import Guard, may_read
from modelyard_metadata.domain.paging import decode_token, encode_token, page_of, page_size
from modelyard_metadata.domain.validation import check_name, check_text
from modelyard_metadata.domain.webhook_delivery import event_body, signed_headers
from modelyard_metadata.domain.webhook_destinations import Destinations
from modelyard_metadata.domain.webhook_entities import (
    EVENT_KINDS,
    PING,
    PING_ACTION,
    Attempt,
    Delivery,
    NewSubscription,
    Subscription,
    actions_of,
)
from modelyard_metadata.domain.webhook_ports import WebhookSender, WebhookStore, WebhookTransaction

__all__ = ["Webhooks"]


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    for i, kind in enumerate(kinds):
        if kind not in EVENT_KINDS:
            raise InvalidArgumentError(f"kinds[{i}]", f"unknown event kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
    return tuple(sorted(set(kinds)))


def _check_id(field: str, subscription_id: str) -> str:
    try:
        return str(uuid.UUID(subscription_id))
    except ValueError:
        raise InvalidArgumentError(field, f"{subscription_id!r} is not a subscription id") from None


def _audited(subscription: Subscription) -> dict[str, object]:
    """What the audit log keeps of a subscription (the backlog changes on its own)."""
    return {k: v for k, v in snapshot(subscription).items() if k != "backlog"}


class Webhooks:
    def __init__(
        self,
        store: WebhookStore,
        guard: Guard,
        destinations: Destinations,
        sender: WebhookSender,
        secret_grace_seconds: float,
    ) -> None:
        self._store = store
        self._guard = guard
        self._destinations = destinations
        self._sender = sender
        self._grace = secret_grace_seconds

    async def _check_url(self, url: str) -> str:
        if problem := await self._destinations.refusal(url):
            raise InvalidArgumentError("url", problem)
        return url

    async def create(
        self, caller: Caller, project: str, url: str, kinds: Sequence[str], description: str
    ) -> tuple[Subscription, str]:
        check_name("project", project)
        wanted = _check_kinds(kinds)
        check_text("description", description)
        caller = await self._guard.allow(caller, project, Role.ADMIN, "CreateSubscription", project)
        await self._check_url(url)
        new = NewSubscription(str(uuid.uuid4()), project, url, wanted, description, caller.actor)
        secret = f"whsec_{secrets.token_urlsafe(32)}"
        async with self._store.transaction() as tx:
            subscription = await tx.insert_subscription(new, secret)
            await tx.append_audit(
                NewAuditEvent(caller, "webhook.create", project, _resource(subscription), after=_audited(subscription))
            )
        return subscription, secret

    async def get(self, caller: Caller, subscription_id: str) -> Subscription:
        subscription, _ = await self._admin(caller, subscription_id, "GetSubscription")
        return subscription

    async def list_subscriptions(self, caller: Caller, project: str) -> list[Subscription]:
        check_name("project", project)
        await self._guard.allow(caller, project, Role.ADMIN, "ListSubscriptions", project)
        return await self._store.list_subscriptions(project)

    async def update(
        self,
        caller: Caller,
        subscription_id: str,
        url: str | None = None,
        kinds: Sequence[str] | None = None,
        active: bool | None = None,
        description: str | None = None,
    ) -> Subscription:
        changes: dict[str, object] = {}
        if url is not None:
            changes["url"] = url
        if kinds is not None:
            wanted = _check_kinds(kinds)
            changes["kinds"] = wanted
            changes["actions"] = actions_of(wanted)
        if active is not None:
            changes["active"] = active
        if description is not None:
            changes["description"] = check_text("description", description)
        current, caller = await self._admin(caller, subscription_id, "UpdateSubscription")
        if url is not None:
            await self._check_url(url)
        async with self._store.transaction() as tx:
            before = await self._locked(tx, current.id)
            after = await tx.update_subscription(before.id, changes) if changes else before
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "webhook.update",
                    after.project,
                    _resource(after),
                    before=_audited(before),
                    after=_audited(after),
                )
            )
        return after

    async def delete(self, caller: Caller, subscription_id: str) -> None:
        current, caller = await self._admin(caller, subscription_id, "DeleteSubscription")
        async with self._store.transaction() as tx:
            before = await self._locked(tx, current.id)
            await tx.delete_subscription(before.id)
            await tx.append_audit(
                NewAuditEvent(caller, "webhook.delete", before.project, _resource(before), before=_audited(before))
            )

    async def rotate_secret(self, caller: Caller, subscription_id: str) -> tuple[Subscription, str]:
        current, caller = await self._admin(caller, subscription_id, "RotateSecret")
        secret = f"whsec_{secrets.token_urlsafe(32)}"
        async with self._store.transaction() as tx:
            await self._locked(tx, current.id)
            after = await tx.rotate_secret(current.id, secret, self._grace)
            await tx.append_audit(
                NewAuditEvent(caller, "webhook.rotate_secret", after.project, _resource(after), after=_audited(after))
            )
        return after, secret

    async def deliveries(
        self, caller: Caller, subscription_id: str, size: int, token: str
    ) -> tuple[list[Delivery], str]:
        current, _ = await self._admin(caller, subscription_id, "ListDeliveries", "subscription_id")
        limit = page_size(size)
        before = decode_token("deliveries", token, int)
        found = await self._store.list_deliveries(current.id, int(before or 2**62), limit + 1)
        return page_of(found, limit, lambda d: encode_token("deliveries", d.id))

    async def redeliver(self, caller: Caller, subscription_id: str, event_id: int) -> Delivery:
        current, caller = await self._admin(caller, subscription_id, "Redeliver", "subscription_id")
        if event_id <= 0:
            raise InvalidArgumentError("event_id", f"must be positive, got {event_id}")
        async with self._store.transaction() as tx:
            delivery = await tx.queue_again(current.id, event_id)
            if delivery is None:
                raise NotFoundError(f"event {event_id} was never queued for subscription {current.id}")
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "webhook.redeliver",
                    current.project,
                    _resource(current),
                    after={"event_id": event_id, "delivery": delivery.id},
                )
            )
        return delivery

    async def ping(self, caller: Caller, subscription_id: str) -> Attempt:
        """Sends a ``ping`` event now, outside the queue, logged as a delivery tried once; what
        the receiver answered."""
        current, caller = await self._admin(caller, subscription_id, "Ping")
        async with self._store.transaction() as tx:
            event_id = await tx.append_audit(NewAuditEvent(caller, PING_ACTION, current.project, _resource(current)))
            delivery_id = await tx.log_ping(current.id, event_id)
        body = event_body(event_id, PING, current.project, _resource(current), caller.actor, datetime.now(UTC), {})
        headers = signed_headers(PING, str(delivery_id), await self._store.secrets(current.id), body)
        attempt = await self._sender.post(current.url, body, headers)
        await self._store.record_ping(delivery_id, attempt)
        return attempt

    async def _admin(
        self, caller: Caller, subscription_id: str, action: str, field: str = "id"
    ) -> tuple[Subscription, Caller]:
        """The subscription and the caller allowed to manage it. A caller who may not read its
        project hears that it does not exist, as when it does not."""
        found = await self._store.get_subscription(_check_id(field, subscription_id))
        missing = NotFoundError(f"webhook subscription {subscription_id!r} does not exist")
        if found is None:
            raise missing
        try:
            may_read(caller, found.project, action)
        except AccessDenied as denied:
            await self._guard.record_denial(caller, denied, _resource(found))
            raise missing from None
        return found, await self._guard.allow(caller, found.project, Role.ADMIN, action, _resource(found))

    async def _locked(self, tx: WebhookTransaction, subscription_id: str) -> Subscription:
        found = await tx.lock_subscription(subscription_id)
        if found is None:
            raise NotFoundError(f"webhook subscription {subscription_id!r} does not exist")
        return found


def _resource(subscription: Subscription) -> str:
    return f"{subscription.project}/webhooks/{subscription.id}"
