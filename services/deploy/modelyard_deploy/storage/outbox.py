"""The deploy schema's outbox (migration 0005_outbox), read and emptied by the leader."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from modelyard_common.postgres import connection
from modelyard_deploy.domain.events import OutboxEvent

__all__ = ["PgOutbox"]


class PgOutbox:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._origin = ""

    async def origin(self) -> str:
        if not self._origin:
            async with connection(self._pool) as conn:
                self._origin = await conn.fetchval("SELECT id FROM deploy.outbox_origin")
        return self._origin

    async def oldest(self, limit: int) -> list[OutboxEvent]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(
                "SELECT id, action, project, resource, actor, reason, details::text AS details "
                "FROM deploy.outbox ORDER BY id LIMIT $1",
                limit,
            )
        return [
            OutboxEvent(
                r["id"], r["action"], r["project"], r["resource"], r["actor"], r["reason"], json.loads(r["details"])
            )
            for r in rows
        ]

    async def remove(self, source_ids: Sequence[int]) -> None:
        async with connection(self._pool) as conn:
            await conn.execute("DELETE FROM deploy.outbox WHERE id = ANY($1::bigint[])", list(source_ids))
