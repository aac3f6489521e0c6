"""Webhook subscriptions and their delivery queue in Postgres (migration 0007_webhooks).

Secrets are sealed with AES-GCM under the service's ``webhook_secret_key`` when it has one, so
that a copy of the database alone does not reveal them; without a key they are kept as they are
(the service warns at start). A delivery is queued by the audit log's trigger, in the
transaction of the change; the queue's NOTIFY wakes the workers of every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelyard_common.errors import BackendUnavailableError, NotFoundError
from modelyard_common.postgres import connection
from modelyard_metadata.domain.webhook_entities import (
    ACTION_KINDS,
    PING,
    PING_ACTION,
    Attempt,
    Delivery,
    NewSubscription,
    Subscription,
    actions_of,
)
from modelyard_metadata.domain.webhook_ports import DueDelivery
from modelyard_metadata.storage.cache import VersionCache
from modelyard_metadata.storage.rows import audit_from_row
from modelyard_metadata.storage.transaction import PgTransaction, committed

__all__ = ["WEBHOOK_CHANNEL", "PgWebhookStore", "SecretBox"]

WEBHOOK_CHANNEL = "modelyard_webhooks"

_SUBSCRIPTION = """
    SELECT s.*, (SELECT count(*) FROM webhook_deliveries d WHERE d.subscription_id = s.id AND NOT d.delivered)
             AS backlog
    FROM webhook_subscriptions s"""

_DELIVERY = """
    SELECT d.*, e.action FROM webhook_deliveries d JOIN audit_events e ON e.id = d.event_id"""

# The first undelivered event of each subscription is its head: only the head is ever sent.
_HEAD = """(SELECT d.next_attempt_at FROM webhook_deliveries d WHERE d.subscription_id = s.id AND NOT d.delivered
            ORDER BY d.event_id, d.id LIMIT 1)"""

_CLAIM = f"""
    UPDATE webhook_subscriptions SET lease_owner = $1, lease_until = now() + $2::interval
    WHERE id IN (SELECT s.id FROM webhook_subscriptions s
                 WHERE (s.lease_until IS NULL OR s.lease_until < now()) AND {_HEAD} <= now()
                 LIMIT $3 FOR UPDATE SKIP LOCKED)
    RETURNING id"""

_NEXT = """
    WITH s AS (UPDATE webhook_subscriptions SET lease_until = now() + $3::interval
               WHERE id = $1 AND lease_owner = $2 AND lease_until >= now() RETURNING *)
    SELECT d.*, s.url, s.secret, s.previous_secret, s.previous_secret_expires_at, e.action,
           e.id AS e_id, e.time AS e_time, e.actor AS e_actor, e.project AS e_project, e.resource AS e_resource,
           e.before AS e_before, e.after AS e_after, e.reason AS e_reason, e.request_id AS e_request_id,
           e.access AS e_access
    FROM s JOIN webhook_deliveries d ON d.subscription_id = s.id AND NOT d.delivered
           JOIN audit_events e ON e.id = d.event_id
    ORDER BY d.event_id, d.id LIMIT 1"""


class SecretBox:
    """Seals secrets for storage: a version byte, then the nonce and AES-GCM ciphertext (1), or
    the secret as it is (0: no key)."""

    def __init__(self, key: str | None) -> None:
        self._aead = AESGCM(hashlib.sha256(key.encode()).digest()) if key else None

    def seal(self, secret: str) -> bytes:
        if self._aead is None:
            return b"\x00" + secret.encode()
        nonce = os.urandom(12)
        return b"\x01" + nonce + self._aead.encrypt(nonce, secret.encode(), b"webhook")

    def open(self, sealed: bytes) -> str:
        if sealed[:1] == b"\x00":
            return sealed[1:].decode()
        if self._aead is None:
            raise BackendUnavailableError("a webhook secret is sealed, but webhook_secret_key is not set")
        return self._aead.decrypt(sealed[1:13], sealed[13:], b"webhook").decode()


def _subscription(row: Mapping[str, Any]) -> Subscription:
    return Subscription(
        id=str(row["id"]),
        project=row["project"],
        url=row["url"],
        kinds=tuple(row["kinds"]),
        description=row["description"],
        active=row["active"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        failing_since=row["failing_since"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
        backlog=row.get("backlog", 0),
    )


def _delivery(row: Mapping[str, Any]) -> Delivery:
    """A ping's row is ``delivered`` once logged (out of the queue: never retried); whether it
    reached the receiver is its response code."""
    kind = ACTION_KINDS.get(row["action"], row["action"])
    return Delivery(
        id=row["id"],
        subscription_id=str(row["subscription_id"]),
        event_id=row["event_id"],
        kind=kind,
        delivered=row["delivered"] and (kind != PING or 200 <= row["response_code"] < 300),
        attempts=row["attempts"],
        response_code=row["response_code"],
        error=row["error"],
        created_at=row["created_at"],
        last_attempt_at=row["last_attempt_at"],
        next_attempt_at=None if row["delivered"] else row["next_attempt_at"],
    )


class PgWebhookTransaction(PgTransaction):
    """Implements WebhookTransaction: the metadata transaction plus subscription changes."""

    box: SecretBox

    async def _read(self, subscription_id: str) -> Subscription:
        row = await self._conn.fetchrow(_SUBSCRIPTION + " WHERE s.id = $1", subscription_id)
        if row is None:
            raise NotFoundError(f"webhook subscription {subscription_id!r} does not exist")
        return _subscription(dict(row))

    async def insert_subscription(self, subscription: NewSubscription, secret: str) -> Subscription:
        try:
            await self._conn.execute(
                """INSERT INTO webhook_subscriptions (id, project, url, kinds, actions, description, secret, created_by)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                subscription.id,
                subscription.project,
                subscription.url,
                list(subscription.kinds),
                actions_of(subscription.kinds),
                subscription.description,
                self.box.seal(secret),
                subscription.created_by,
            )
        except asyncpg.ForeignKeyViolationError:
            raise NotFoundError(f"project {subscription.project!r} does not exist") from None
        return await self._read(subscription.id)

    async def lock_subscription(self, subscription_id: str) -> Subscription | None:
        found = await self._conn.fetchval(
            "SELECT id FROM webhook_subscriptions WHERE id = $1 FOR NO KEY UPDATE", subscription_id
        )
        return None if found is None else await self._read(subscription_id)

    async def update_subscription(self, subscription_id: str, changes: Mapping[str, Any]) -> Subscription:
        columns = {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
        await self._conn.execute(
            f"UPDATE webhook_subscriptions SET {sets} WHERE id = $1", subscription_id, *columns.values()
        )
        return await self._read(subscription_id)

    async def rotate_secret(self, subscription_id: str, secret: str, grace_seconds: float) -> Subscription:
        await self._conn.execute(
            """UPDATE webhook_subscriptions SET previous_secret = secret, secret = $2,
                      previous_secret_expires_at = now() + make_interval(secs => $3)
               WHERE id = $1""",
            subscription_id,
            self.box.seal(secret),
            grace_seconds,
        )
        return await self._read(subscription_id)

    async def delete_subscription(self, subscription_id: str) -> None:
        await self._conn.execute("DELETE FROM webhook_subscriptions WHERE id = $1", subscription_id)

    async def queue_again(self, subscription_id: str, event_id: int) -> Delivery | None:
        row = await self._conn.fetchrow(
            """WITH d AS (INSERT INTO webhook_deliveries (subscription_id, event_id)
                          SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM webhook_deliveries d
                                                      JOIN audit_events e ON e.id = d.event_id
                                                      WHERE d.subscription_id = $1 AND d.event_id = $2
                                                        AND e.action <> $4)
                          RETURNING *)
               SELECT d.*, e.action, pg_notify($3, '') FROM d JOIN audit_events e ON e.id = d.event_id""",
            subscription_id,
            event_id,
            WEBHOOK_CHANNEL,
            PING_ACTION,
        )
        return None if row is None else _delivery(dict(row))

    async def log_ping(self, subscription_id: str, event_id: int) -> int:
        delivery_id: int = await self._conn.fetchval(
            "INSERT INTO webhook_deliveries (subscription_id, event_id, delivered) VALUES ($1, $2, true) RETURNING id",
            subscription_id,
            event_id,
        )
        return delivery_id


class PgWebhookStore:
    """Implements WebhookStore over the metadata service's pool; ``dsn`` opens the connection
    that listens for queued deliveries."""

    def __init__(self, pool: asyncpg.Pool, cache: VersionCache | None, box: SecretBox, dsn: str) -> None:
        self._pool = pool
        self._cache = cache
        self._box = box
        self._dsn = dsn
        self._listener: asyncpg.Connection | None = None
        self._queued = asyncio.Event()

    def transaction(self) -> AbstractAsyncContextManager[PgWebhookTransaction]:
        def make(conn: Any) -> PgWebhookTransaction:
            tx = PgWebhookTransaction(conn)
            tx.box = self._box
            return tx

        return committed(self._pool, self._cache, make)

    async def get_subscription(self, subscription_id: str) -> Subscription | None:
        async with connection(self._pool) as conn:
            row = await conn.fetchrow(_SUBSCRIPTION + " WHERE s.id = $1", subscription_id)
        return None if row is None else _subscription(dict(row))

    async def list_subscriptions(self, project: str) -> list[Subscription]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_SUBSCRIPTION + " WHERE s.project = $1 ORDER BY s.created_at, s.id", project)
        return [_subscription(dict(row)) for row in rows]

    async def all_subscriptions(self) -> list[Subscription]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_SUBSCRIPTION)
        return [_subscription(dict(row)) for row in rows]

    async def list_deliveries(self, subscription_id: str, before_id: int, limit: int) -> list[Delivery]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(
                _DELIVERY + " WHERE d.subscription_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3",
                subscription_id,
                before_id,
                limit,
            )
        return [_delivery(dict(row)) for row in rows]

    async def secrets(self, subscription_id: str) -> tuple[str, ...]:
        async with connection(self._pool) as conn:
            row = await conn.fetchrow("SELECT * FROM webhook_subscriptions WHERE id = $1", subscription_id)
        return () if row is None else self._secrets(dict(row))

    def _secrets(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        current = self._box.open(row["secret"])
        expires: datetime | None = row["previous_secret_expires_at"]
        if row["previous_secret"] is None or expires is None or expires <= datetime.now(expires.tzinfo):
            return (current,)
        return current, self._box.open(row["previous_secret"])

    async def claim(self, owner: str, lease_seconds: float, limit: int) -> list[str]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_CLAIM, owner, _seconds(lease_seconds), limit)
        return [str(row["id"]) for row in rows]

    async def next_due(self, subscription_id: str, owner: str, lease_seconds: float) -> DueDelivery | None:
        async with connection(self._pool) as conn:
            row = await conn.fetchrow(_NEXT, subscription_id, owner, _seconds(lease_seconds))
        if row is None:
            return None
        data = dict(row)
        if data["next_attempt_at"] > datetime.now(data["next_attempt_at"].tzinfo):
            return None
        event = audit_from_row(
            {key[2:]: value for key, value in data.items() if key.startswith("e_")} | {"action": data["action"]}
        )
        return DueDelivery(_delivery(data), event, data["url"], self._secrets(data))

    async def record(self, delivery_id: int, attempt: Attempt, retry_at: datetime | None, failing: bool) -> None:
        async with connection(self._pool) as conn, conn.transaction():
            subscription_id = await conn.fetchval(
                """UPDATE webhook_deliveries SET attempts = attempts + 1, response_code = $2, error = $3,
                          last_attempt_at = now(), delivered = $4, next_attempt_at = coalesce($5, next_attempt_at)
                   WHERE id = $1 RETURNING subscription_id""",
                delivery_id,
                attempt.response_code,
                attempt.error,
                retry_at is None,
                retry_at,
            )
            await conn.execute(
                """UPDATE webhook_subscriptions
                   SET failing_since = CASE WHEN $2 THEN coalesce(failing_since, now()) END WHERE id = $1""",
                subscription_id,
                failing,
            )

    async def record_ping(self, delivery_id: int, attempt: Attempt) -> None:
        async with connection(self._pool) as conn:
            await conn.execute(
                """UPDATE webhook_deliveries SET attempts = 1, response_code = $2, error = $3, last_attempt_at = now()
                   WHERE id = $1""",
                delivery_id,
                attempt.response_code,
                attempt.error,
            )

    async def prune(self, older_than_seconds: float, limit: int) -> int:
        async with connection(self._pool) as conn:
            deleted: str = await conn.execute(
                """DELETE FROM webhook_deliveries WHERE id IN (
                       SELECT id FROM webhook_deliveries
                       WHERE delivered AND coalesce(last_attempt_at, created_at) < now() - $1::interval LIMIT $2)""",
                _seconds(older_than_seconds),
                limit,
            )
        return int(deleted.split()[-1])

    async def release(self, subscription_ids: Sequence[str], owner: str) -> None:
        async with connection(self._pool) as conn:
            await conn.execute(
                "UPDATE webhook_subscriptions SET lease_owner = '', lease_until = NULL "
                "WHERE id = ANY($1::uuid[]) AND lease_owner = $2",
                list(subscription_ids),
                owner,
            )

    async def wait_for_work(self, timeout: float) -> None:
        await self._listen()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queued.wait(), timeout)
        self._queued.clear()

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            conn = await asyncpg.connect(self._dsn, timeout=10)
            await conn.add_listener(WEBHOOK_CHANNEL, lambda *_: self._queued.set())
        except (OSError, asyncpg.PostgresError) as exc:
            raise BackendUnavailableError(f"cannot listen for webhook deliveries: {exc}") from exc
        self._listener = conn
        self._queued.set()  # anything queued while nobody listened is looked for at once

    async def close(self) -> None:
        if self._listener is not None:
            conn, self._listener = self._listener, None
            await conn.close()


def _seconds(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
