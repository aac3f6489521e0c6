"""What webhooks need from storage and from the network; storage/ implements these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from modelyard_metadata.domain.entities import AuditEvent
from modelyard_metadata.domain.ports import MetadataTransaction
from modelyard_metadata.domain.webhook_entities import Attempt, Delivery, NewSubscription, Subscription

__all__ = ["DueDelivery", "WebhookSender", "WebhookStore", "WebhookTransaction"]


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """The next delivery of a subscription, with what sending it takes."""

    delivery: Delivery
    event: AuditEvent
    url: str
    secrets: tuple[str, ...]


class WebhookTransaction(MetadataTransaction, Protocol):
    async def insert_subscription(self, subscription: NewSubscription, secret: str) -> Subscription:
        """NOT_FOUND when the project does not exist."""
        ...

    async def lock_subscription(self, subscription_id: str) -> Subscription | None: ...
    async def update_subscription(self, subscription_id: str, changes: Mapping[str, Any]) -> Subscription: ...
    async def rotate_secret(self, subscription_id: str, secret: str, grace_seconds: float) -> Subscription:
        """``secret`` signs from now on; the current one beside it for ``grace_seconds``."""
        ...

    async def delete_subscription(self, subscription_id: str) -> None: ...
    async def queue_again(self, subscription_id: str, event_id: int) -> Delivery | None:
        """A new delivery of an event once queued for the subscription (None: never was)."""
        ...

    async def log_ping(self, subscription_id: str, event_id: int) -> int:
        """A delivery of the ping event ``event_id`` in the log, outside the queue; its id."""
        ...


class WebhookStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[WebhookTransaction]: ...
    async def get_subscription(self, subscription_id: str) -> Subscription | None: ...
    async def list_subscriptions(self, project: str) -> list[Subscription]: ...
    async def list_deliveries(self, subscription_id: str, before_id: int, limit: int) -> list[Delivery]: ...
    async def secrets(self, subscription_id: str) -> tuple[str, ...]:
        """The secrets that sign now: the current one, then the previous one during its grace."""
        ...

    async def claim(self, owner: str, lease_seconds: float, limit: int) -> list[str]:
        """Leases up to ``limit`` subscriptions whose next delivery is due and that no replica
        holds; their ids."""
        ...

    async def next_due(self, subscription_id: str, owner: str, lease_seconds: float) -> DueDelivery | None:
        """The subscription's first undelivered event if due now, renewing ``owner``'s lease;
        None when there is none, or the lease was lost."""
        ...

    async def record(self, delivery_id: int, attempt: Attempt, retry_at: datetime | None, failing: bool) -> None:
        """The attempt's outcome: delivered on a 2xx, else retried at ``retry_at``; the
        subscription is marked failing or not."""
        ...

    async def record_ping(self, delivery_id: int, attempt: Attempt) -> None:
        """The outcome of the ping logged as ``delivery_id`` (not retried; failing unchanged)."""
        ...

    async def prune(self, older_than_seconds: float, limit: int) -> int:
        """Deletes up to ``limit`` delivered deliveries last tried more than ``older_than_seconds``
        ago (never a pending one); how many."""
        ...

    async def release(self, subscription_ids: Sequence[str], owner: str) -> None: ...
    async def wait_for_work(self, timeout: float) -> None:
        """Returns when a delivery was queued (on any replica), or after ``timeout`` seconds."""
        ...

    async def all_subscriptions(self) -> list[Subscription]:
        """Every project's (for the metrics)."""
        ...


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        """POSTs ``body``; the answer, or the error (refused destination, timeout) as an Attempt."""
        ...
