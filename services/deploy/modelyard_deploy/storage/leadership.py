"""The deploy leader: whoever holds a session-level Postgres advisory lock, on a connection of
its own. Postgres releases it when that session ends, also when its process was killed."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from modelyard_deploy.storage.sessions import UNAVAILABLE, connect, until_dropped

__all__ = ["LEADER_LOCK", "PgLeadership"]

logger = logging.getLogger(__name__)

LEADER_LOCK = 0x6D795F6C656164  # "my_lead"; the migrations lock is another key


class PgLeadership:
    def __init__(self, dsn: str, retry_seconds: float, timeout: float) -> None:
        self._dsn, self._retry, self._timeout = dsn, retry_seconds, timeout
        self._connection: asyncpg.Connection | None = None

    async def acquire(self) -> None:
        """Tries the lock every ``retry_seconds`` until it holds it."""
        while True:
            try:
                if self._connection is None or self._connection.is_closed():
                    self._connection = await connect(self._dsn, self._timeout)
                if await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK):
                    return
            except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
                logger.warning("cannot try the leader lock; trying again: %r", exc)
                await self.close()
            await asyncio.sleep(self._retry)

    async def lost(self) -> str:
        if self._connection is None:
            raise RuntimeError("lost() before acquire()")
        return await until_dropped(self._connection, self._retry)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()
