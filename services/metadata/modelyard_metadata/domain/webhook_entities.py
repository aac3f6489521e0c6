"""What webhooks are made of: subscriptions, their deliveries, one attempt's outcome, and the
event kinds a subscription chooses from (each the name of some audit actions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "ACTION_KINDS",
    "EVENT_KINDS",
    "PING",
    "PING_ACTION",
    "Attempt",
    "Delivery",
    "NewSubscription",
    "Subscription",
    "actions_of",
]

# Event kind -> the audit actions it is made of. Deployment and job events come from the deploy
# service's outbox (RecordServiceEvents).
EVENT_KINDS: Mapping[str, frozenset[str]] = {
    "version.created": frozenset({"version.create"}),
    "version.ready": frozenset({"version.ready"}),
    "version.failed": frozenset({"version.failed"}),
    "version.stage_changed": frozenset({"version.stage"}),
    "alias.moved": frozenset({"alias.set", "alias.delete"}),
    "deployment.changed": frozenset({"deployment.changed"}),
    "job.finished": frozenset({"job.finished"}),
    "scoring_test.passed": frozenset({"scoring_test.passed"}),
    "scoring_test.failed": frozenset({"scoring_test.failed"}),
    "scoring_test.error": frozenset({"scoring_test.error"}),
}
# The kind of the test event Ping sends, and the audit action of a ping (never queued: no
# subscription's actions hold it).
PING = "ping"
PING_ACTION = "webhook.ping"
ACTION_KINDS: Mapping[str, str] = {
    PING_ACTION: PING,
    **{action: kind for kind, actions in EVENT_KINDS.items() for action in actions},
}


def actions_of(kinds: tuple[str, ...]) -> list[str]:
    """The audit actions whose events are queued for a subscription to ``kinds`` (none: all)."""
    return sorted(a for kind in (kinds or EVENT_KINDS) for a in EVENT_KINDS[kind])


@dataclass(frozen=True, slots=True)
class NewSubscription:
    id: str
    project: str
    url: str
    kinds: tuple[str, ...]
    description: str
    created_by: str


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    project: str
    url: str
    kinds: tuple[str, ...]
    description: str
    active: bool
    created_by: str
    created_at: datetime
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    backlog: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event queued for one subscription (or a ping, tried once), and how its attempts went."""

    id: int
    subscription_id: str
    event_id: int
    kind: str
    delivered: bool
    attempts: int
    response_code: int
    error: str
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None

    @property
    def state(self) -> str:
        """PENDING (waiting or retrying), DELIVERED, or FAILED (a ping that failed: not retried)."""
        if self.delivered:
            return "DELIVERED"
        return "FAILED" if self.kind == PING else "PENDING"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What a POST got: the receiver's status (0: none, see ``error``) and how long it took."""

    response_code: int
    error: str
    seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.response_code < 300
