"""Sending webhooks: the signed request of an event, the retry schedule, and the worker that
drains each subscription's queue in order.

Each replica runs one ``DeliveryWorker``. It leases the subscriptions whose next delivery is due
(a lease in Postgres: one replica works a subscription at a time), sends that subscription's
deliveries one by one in the order of their events, and stops at the first that fails, to retry
it after a backoff: a receiver sees its events in order, each at least once. The queue lives in
Postgres (a change and its delivery commit together), so a restart loses nothing; a lease of a
replica that died lapses after ``lease_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from modelyard_common.errors import BackendUnavailableError
from modelyard_metadata.domain.entities import AuditEvent
from modelyard_metadata.domain.webhook_entities import ACTION_KINDS, Attempt, Subscription
from modelyard_metadata.domain.webhook_ports import WebhookSender, WebhookStore

__all__ = [
    "DeliveryObserver",
    "DeliveryWorker",
    "RetryPolicy",
    "WorkerSettings",
    "audit_body",
    "event_body",
    "signature",
    "signed_headers",
]

logger = logging.getLogger(__name__)

PRUNE_BATCH = 1000


def event_body(event_id: int, kind: str, project: str, resource: str, actor: str, at: datetime, data: Any) -> bytes:
    """The JSON a receiver gets: ``id`` is the audit event's (the same on a redelivery, so that
    receivers can drop duplicates)."""
    document = {
        "id": event_id,
        "kind": kind,
        "project": project,
        "resource": resource,
        "actor": actor,
        "time": at.isoformat(),
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def audit_body(event: AuditEvent) -> bytes:
    data = {"action": event.action, "before": event.before, "after": event.after, "reason": event.reason}
    return event_body(
        event.id,
        ACTION_KINDS.get(event.action, event.action),
        event.project,
        event.resource,
        event.actor,
        event.time,
        data,
    )


def signature(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=TIMESTAMP,v1=HEX[,v1=HEX]``: one HMAC-SHA256 of ``f"{t}.{body}"`` per secret."""
    signed = f"{timestamp}.".encode() + body
    macs = (hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest() for secret in secrets)
    return ",".join([f"t={timestamp}", *(f"v1={mac}" for mac in macs)])


def signed_headers(kind: str, delivery: str, secrets: Sequence[str], body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "modelyard-webhooks",
        "modelyard-event": kind,
        "modelyard-delivery": delivery,
        "modelyard-signature": signature(secrets, int(time.time()), body),
    }


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, from ``base_seconds`` up to ``max_seconds``; a
    subscription whose retries reached the longest interval is failing (and keeps retrying)."""

    base_seconds: float
    max_seconds: float

    def _raw(self, attempts: int) -> float:
        return float(min(self.max_seconds, self.base_seconds * 2 ** min(attempts - 1, 60)))

    def delay(self, attempts: int) -> float:
        """Seconds before the next try of a delivery that failed ``attempts`` times."""
        return self._raw(attempts) * random.uniform(0.8, 1.0)

    def failing(self, attempts: int) -> bool:
        return self._raw(attempts) >= self.max_seconds


class DeliveryObserver(Protocol):
    def attempted(self, attempt: Attempt) -> None: ...
    def subscriptions(self, subscriptions: Sequence[Subscription]) -> None: ...


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    owner: str
    concurrency: int
    poll_seconds: float
    lease_seconds: float
    # Delivered deliveries older than this are pruned from the log, every half of it (at most
    # hourly), PRUNE_BATCH rows a statement.
    retention_seconds: float = 30 * 86400.0
    metrics_seconds: float = 15.0

    @property
    def prune_seconds(self) -> float:
        return min(3600.0, self.retention_seconds / 2)


class DeliveryWorker:
    def __init__(
        self,
        store: WebhookStore,
        sender: WebhookSender,
        policy: RetryPolicy,
        settings: WorkerSettings,
        observer: DeliveryObserver,
    ) -> None:
        self._store = store
        self._sender = sender
        self._policy = policy
        self._settings = settings
        self._observer = observer
        self._running: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Until cancelled: lease due subscriptions and drain each in a task of its own."""
        observed = pruned = -float("inf")
        try:
            while True:
                try:
                    room = self._settings.concurrency - len(self._running)
                    if room > 0:
                        for subscription_id in await self._store.claim(
                            self._settings.owner, self._settings.lease_seconds, room
                        ):
                            task = asyncio.create_task(self._drain(subscription_id))
                            self._running[subscription_id] = task
                            task.add_done_callback(self._forget)
                    if time.monotonic() - observed >= self._settings.metrics_seconds:
                        self._observer.subscriptions(await self._store.all_subscriptions())
                        observed = time.monotonic()
                    if time.monotonic() - pruned >= self._settings.prune_seconds:
                        await self._prune()
                        pruned = time.monotonic()
                    await self._store.wait_for_work(self._settings.poll_seconds)
                except BackendUnavailableError as exc:
                    logger.warning("webhook deliveries wait for Postgres", extra={"error": str(exc)})
                    await asyncio.sleep(self._settings.poll_seconds)
                except Exception:  # the worker must outlive a bug in one pass: deliveries wait, not stop
                    logger.exception("webhook delivery worker failed; trying again")
                    await asyncio.sleep(self._settings.poll_seconds)
        finally:
            await self.stop()

    async def _prune(self) -> None:
        """The log's delivered rows past the retention, in bounded batches (short statements)."""
        while await self._store.prune(self._settings.retention_seconds, PRUNE_BATCH) == PRUNE_BATCH:
            pass

    def _forget(self, task: asyncio.Task[None]) -> None:
        for subscription_id, running in list(self._running.items()):
            if running is task:
                del self._running[subscription_id]

    async def stop(self) -> None:
        """Cancels the sends in flight and gives their leases back (they are sent again)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, subscription_id: str) -> None:
        settings = self._settings
        try:
            while (
                due := await self._store.next_due(subscription_id, settings.owner, settings.lease_seconds)
            ) is not None:
                delivery, event = due.delivery, due.event
                body = audit_body(event)
                headers = signed_headers(delivery.kind, str(delivery.id), due.secrets, body)
                attempt = await self._sender.post(due.url, body, headers)
                self._observer.attempted(attempt)
                attempts = delivery.attempts + 1
                if attempt.ok:
                    await self._store.record(delivery.id, attempt, None, False)
                    continue
                retry_at = datetime.now(UTC) + timedelta(seconds=self._policy.delay(attempts))
                await self._store.record(delivery.id, attempt, retry_at, self._policy.failing(attempts))
                logger.info(
                    "webhook delivery failed",
                    extra={"subscription": subscription_id, "delivery": delivery.id, "error": _describe(attempt)},
                )
                return
        except BackendUnavailableError as exc:
            logger.warning("webhook deliveries wait for Postgres", extra={"error": str(exc)})
        except Exception:
            logger.exception("webhook delivery failed unexpectedly", extra={"subscription": subscription_id})
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._store.release([subscription_id], settings.owner))


def _describe(attempt: Attempt) -> str:
    return attempt.error or f"HTTP {attempt.response_code}"
