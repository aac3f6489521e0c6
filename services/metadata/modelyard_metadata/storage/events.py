"""Committed audit events, pushed to watchers as Postgres notifies them (LISTEN/NOTIFY).

Each audit insert sends its id on a channel when its transaction commits; one listening
connection per process fans the ids out to the open WatchEvents streams of that process.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from modelyard_common.errors import BackendUnavailableError
from modelyard_metadata.storage.transaction import AUDIT_CHANNEL

__all__ = ["AuditFeed", "Subscription"]

logger = logging.getLogger(__name__)


class Subscription:
    """Ids of committed audit events, in commit order, for one watcher."""

    def __init__(self, limit: int) -> None:
        self._ids: collections.deque[int] = collections.deque()
        self._limit = limit
        self._wakeup = asyncio.Event()
        self._ended = False
        self.error = ""

    def push(self, event_id: int) -> None:
        if len(self._ids) >= self._limit:
            self.end("the watcher fell too far behind")
            return
        self._ids.append(event_id)
        self._wakeup.set()

    def end(self, error: str = "") -> None:
        if not self._ended:
            self._ended, self.error = True, error
            self._wakeup.set()

    async def next(self) -> int | None:
        """The next event id, or None once the subscription has ended."""
        while not self._ids:
            if self._ended:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._ids.popleft()


class AuditFeed:
    def __init__(self, dsn: str, queue_limit: int = 10_000) -> None:
        self._dsn = dsn
        self._limit = queue_limit
        self._conn: asyncpg.Connection | None = None
        self._subscriptions: set[Subscription] = set()
        self._connecting = asyncio.Lock()

    async def _connect(self) -> None:
        async with self._connecting:
            if self._conn is not None and not self._conn.is_closed():
                return
            try:
                conn = await asyncpg.connect(self._dsn, timeout=10)
                await conn.add_listener(AUDIT_CHANNEL, self._notified)
            except (OSError, asyncpg.PostgresError) as exc:
                raise BackendUnavailableError(f"cannot listen for audit events: {exc}") from exc
            conn.add_termination_listener(self._lost)
            self._conn = conn

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        event_id = int(str(payload))
        for subscription in list(self._subscriptions):
            subscription.push(event_id)

    def _lost(self, _conn: object) -> None:
        logger.warning("lost the audit event listener connection; ending watches")
        self._conn = None
        self._end_all("the connection to Postgres was lost")

    def _end_all(self, error: str) -> None:
        for subscription in list(self._subscriptions):
            subscription.end(error)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A new subscription; the listening connection is (re)opened on demand."""
        await self._connect()
        subscription = Subscription(self._limit)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    async def close(self) -> None:
        """Ends every watch (cleanly) and closes the listening connection."""
        self._end_all("")
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
