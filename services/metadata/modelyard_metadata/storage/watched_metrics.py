"""The latest numeric metrics of the versions people watch: in VALIDATION or PRODUCTION, or
pointed to by an alias. Read for the Prometheus gauges, not for the API."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from modelyard_common.postgres import connection

__all__ = ["WatchedMetric", "watched_metrics"]

_WATCHED = """
SELECT v.project, v.model, v.version, v.stage, m.key AS metric, (m.value->>'number')::float8 AS value
FROM model_versions v CROSS JOIN LATERAL jsonb_each(v.metrics) AS m
WHERE (v.stage IN ('VALIDATION', 'PRODUCTION') OR EXISTS (SELECT 1 FROM aliases a WHERE a.version_id = v.id))
  AND v.status = 'READY' AND jsonb_typeof(m.value->'number') = 'number'
ORDER BY v.project, v.model, v.version, m.key
LIMIT $1"""


@dataclass(frozen=True, slots=True)
class WatchedMetric:
    project: str
    model: str
    version: int
    stage: str
    metric: str
    value: float


async def watched_metrics(pool: asyncpg.Pool, limit: int) -> list[WatchedMetric]:
    async with connection(pool) as conn:
        return [WatchedMetric(**record) for record in await conn.fetch(_WATCHED, limit)]
