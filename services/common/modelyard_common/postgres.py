"""Postgres as every service uses it: a pool with deadlines, and lost connections as UNAVAILABLE."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from modelyard_common.errors import BackendUnavailableError
from modelyard_common.settings import DatabaseSettings

__all__ = ["UNAVAILABLE", "connection", "create_pool"]

# What a lost or refused connection raises; anything else from asyncpg is a bug or bad SQL.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


async def create_pool(
    settings: DatabaseSettings, init: Callable[[asyncpg.Connection], Coroutine[Any, Any, None]] | None = None
) -> asyncpg.Pool:
    """The service's pool; ``init`` runs on each new connection (type codecs)."""
    try:
        return await asyncpg.create_pool(
            settings.db_dsn,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            command_timeout=settings.db_timeout_seconds,
            timeout=settings.db_timeout_seconds,
            init=init,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackendUnavailableError(f"cannot connect to Postgres: {exc}") from exc


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[Any]:
    """A pooled connection; losing Postgres while it is used raises BackendUnavailableError."""
    try:
        async with pool.acquire() as conn:
            yield conn
    except UNAVAILABLE as exc:
        raise BackendUnavailableError(f"Postgres is unavailable: {exc}") from exc
