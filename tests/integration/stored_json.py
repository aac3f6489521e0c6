"""JSON values deeper than the metadata service now accepts, written straight into Postgres, as
rows stored before the bound existed would hold them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg


def nested(depth: int) -> dict[str, object]:
    """A JSON object ``depth`` objects deep."""
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def depth(value: object) -> int:
    """Levels of objects and lists in a JSON value."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


async def store_too_deep(dsn: str, reference: str, levels: int = 33) -> None:
    """Gives version ``reference`` hyperparameters and a structured metric "deep" ``levels`` objects
    deep (its history too), and appends an audit event whose snapshot holds that metric. 33 is the
    deepest the service stored before it was bounded: one more did not decode in a request."""
    project, _, rest = reference.partition("/")
    model, _, number = rest.partition(":")
    deep = json.dumps(nested(levels))
    now = datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            version_id = await conn.fetchval(
                "SELECT id FROM model_versions WHERE project = $1 AND model = $2 AND version = $3",
                project,
                model,
                int(number),
            )
            latest = json.dumps({"step": 0, "time": now.isoformat()})
            await conn.execute(
                "UPDATE model_versions SET params = $2::jsonb, metrics = metrics || jsonb_build_object("
                "'deep', $3::jsonb || jsonb_build_object('structured', $2::jsonb)) WHERE id = $1",
                version_id,
                deep,
                latest,
            )
            await conn.execute(
                "INSERT INTO metric_points (version_id, name, structured, step, time)"
                " VALUES ($1, 'deep', $2::jsonb, 0, $3)",
                version_id,
                deep,
                now,
            )
            await conn.execute(
                "INSERT INTO audit_events (actor, action, project, resource, after) "
                "VALUES ('tester', 'version.update', $1, $2, $3::jsonb)",
                project,
                reference,
                json.dumps({"metrics": [{"name": "deep", "structured": nested(levels)}]}),
            )
    finally:
        await conn.close()
