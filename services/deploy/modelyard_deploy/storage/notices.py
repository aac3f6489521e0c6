"""Change notices between deploy services: Postgres NOTIFY on one channel, the payload a
deployment's name, received by a LISTEN on a connection of its own that reconnects when it drops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from modelyard_common.postgres import connection
from modelyard_deploy.storage.sessions import UNAVAILABLE, connect, until_dropped

__all__ = ["CHANNEL", "PgChangeFeed"]

logger = logging.getLogger(__name__)

CHANNEL = "modelyard_deploy"


class PgChangeFeed:
    def __init__(self, pool: asyncpg.Pool, dsn: str, retry_seconds: float, timeout: float) -> None:
        self._pool, self._dsn, self._retry, self._timeout = pool, dsn, retry_seconds, timeout

    async def publish(self, name: str) -> None:
        async with connection(self._pool) as conn:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, name)

    async def follow(self, on_change: Callable[[str], None], on_live: Callable[[bool], None]) -> None:
        def received(_conn: Any, _pid: int, _channel: str, payload: object) -> None:
            on_change(str(payload))

        while True:
            try:
                listener = await connect(self._dsn, self._timeout)
            except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
                logger.warning("cannot listen for change notices; trying again: %r", exc)
            else:
                try:
                    await listener.add_listener(CHANNEL, received)
                    on_live(True)
                    why = await until_dropped(listener, self._retry)
                    logger.warning("stopped receiving change notices (%s); reconnecting", why)
                except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
                    logger.warning("cannot listen for change notices; trying again: %r", exc)
                finally:
                    on_live(False)
                    listener.terminate()
            await asyncio.sleep(self._retry)
