"""Postgres connections of their own (outside the pool), for what lives as long as a session:
the leader's advisory lock and the LISTEN for change notices. Both must notice when theirs drops."""

from __future__ import annotations

import asyncio

import asyncpg

from modelyard_common.postgres import UNAVAILABLE

__all__ = ["UNAVAILABLE", "connect", "until_dropped"]


async def connect(dsn: str, timeout: float) -> asyncpg.Connection:
    connection: asyncpg.Connection = await asyncpg.connect(dsn, timeout=timeout)
    return connection


async def until_dropped(connection: asyncpg.Connection, interval: float) -> str:
    """Returns, saying why, once ``connection`` is closed or does not answer within ``interval``:
    it is asked every ``interval`` seconds (a closed socket alone says nothing of a lost network)."""
    while True:
        await asyncio.sleep(interval)
        if connection.is_closed():
            return "its connection to Postgres is closed"
        try:
            await connection.fetchval("SELECT 1", timeout=interval)
        except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
            return f"its connection to Postgres dropped: {exc!r}"
