"""Who consumes each version, in Postgres (migration 0005_consumers)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from modelyard_common.postgres import connection
from modelyard_common.values import ConsumptionKind
from modelyard_metadata.domain.entities import Consumer

__all__ = ["PgConsumerStore"]

# Conflicting rows move forward only when their last time is old enough: no write otherwise.
_RECORD = """
    INSERT INTO version_consumers (version_id, principal, kind, detail) VALUES ($1, $2, $3, $4)
    ON CONFLICT (version_id, principal, kind, detail) DO UPDATE SET last_at = now()
    WHERE version_consumers.last_at <= now() - $5::interval"""

_OF_VERSION = """
    SELECT c.*, ARRAY(SELECT m.team FROM team_members m WHERE m.member = c.principal ORDER BY m.team) AS teams
    FROM version_consumers c WHERE c.version_id = $1
    ORDER BY c.last_at DESC, c.principal, c.kind, c.detail"""


class PgConsumerStore:
    """Implements ConsumerStore over the metadata service's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(
        self, version_id: int, principal: str, kind: ConsumptionKind, detail: str, every: timedelta
    ) -> None:
        async with connection(self._pool) as conn:
            await conn.execute(_RECORD, version_id, principal, kind.value, detail, every)

    async def of_version(self, version_id: int) -> list[Consumer]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_OF_VERSION, version_id)
        return [
            Consumer(
                principal=row["principal"],
                kind=ConsumptionKind(row["kind"]),
                detail=row["detail"],
                teams=tuple(row["teams"]),
                first_at=row["first_at"],
                last_at=row["last_at"],
            )
            for row in rows
        ]
