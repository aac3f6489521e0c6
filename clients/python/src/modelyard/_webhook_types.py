"""What the SDK returns about webhooks (grpc-free): subscriptions, their deliveries, a ping."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "WEBHOOK_KINDS",
    "DeliveryPage",
    "NewWebhookSecret",
    "PingResult",
    "WebhookDelivery",
    "WebhookSubscription",
]

# The event kinds a subscription may ask for (none asked: every kind).
WEBHOOK_KINDS = (
    "version.created",
    "version.ready",
    "version.failed",
    "version.stage_changed",
    "alias.moved",
    "deployment.changed",
    "job.finished",
    "scoring_test.passed",
    "scoring_test.failed",
    "scoring_test.error",
)


@dataclass(frozen=True, slots=True)
class WebhookSubscription:
    """A project's webhook: its events of ``kinds`` (empty: every kind) POSTed to ``url``,
    signed with its secret. ``failing``: the receiver has not answered 2xx for a while (the
    deliveries are retried at the longest interval); ``backlog``: deliveries waiting."""

    id: str
    project: str
    url: str
    kinds: tuple[str, ...] = ()
    description: str = ""
    active: bool = True
    failing: bool = False
    created_by: str = ""
    created_at: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    backlog: int = 0


@dataclass(frozen=True, slots=True)
class NewWebhookSecret:
    """A subscription with the secret that signs its deliveries, which the server returns only
    when it is made (kept out of ``repr``)."""

    subscription: WebhookSubscription
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """An event sent (or to be sent) to a subscription: ``state`` PENDING, DELIVERED or FAILED (a
    ping, which is tried once), the ``response_code`` of its last attempt (0: no answer, see
    ``error``)."""

    id: str
    subscription_id: str
    event_id: int
    kind: str
    state: str
    attempts: int = 0
    response_code: int = 0
    error: str = ""
    created_at: datetime | None = None
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PingResult:
    """What a receiver answered a ping: its HTTP status (0: none, see ``error``)."""

    response_code: int
    error: str
    seconds: float


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """One page of a delivery log, newest first; ``next_page_token`` ("" after the last page)
    asks for the next."""

    deliveries: tuple[WebhookDelivery, ...]
    next_page_token: str = ""
