"""The baselines' SQL: the very statements the service issues for a search and for a create,
taken from its own storage code, run straight on asyncpg; and EXPLAIN ANALYZE of a search."""

from __future__ import annotations

import math
from collections.abc import Sequence

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bench.metadata._seed import DEPENDENCIES, SIGNATURE, VERSION_PARAMS, VERSION_TAGS
from modelyard_metadata.api.wire import ProtoWire
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.search import parse_filter, parse_order_by
from modelyard_metadata.storage import queries as service_sql
from modelyard_metadata.storage.rows import version_from_row
from modelyard_metadata.storage.search_sql import compile_search
from modelyard_metadata.storage.transaction import AUDIT_CHANNEL

__all__ = ["SEARCH_FILTER", "SEARCH_ORDERED", "SEARCH_PAGE", "direct_create", "explain", "search_sql"]

SEARCH_FILTER = 'stage = "PRODUCTION" AND metrics.accuracy >= 0.5'
SEARCH_ORDERED = "metrics.accuracy DESC"
SEARCH_PAGE = 100
_WIRE = ProtoWire()


def search_sql(order_by: str) -> tuple[str, tuple[object, ...]]:
    """The exact statement SearchModelVersions runs for SEARCH_FILTER and ``order_by``."""
    compiled = compile_search(
        parse_filter(SEARCH_FILTER), parse_order_by(order_by), project=None, page_token="", page_size=SEARCH_PAGE
    )
    return compiled.query(columns=service_sql.ENCODED_COLUMNS), compiled.args


async def direct_create(conn: asyncpg.Connection | PoolConnectionProxy, project: str, name: str) -> None:
    """The statements CreateModelVersion runs in its transaction (storage/transaction.py), same values."""
    async with conn.transaction():
        model = await conn.fetchrow(
            f"""WITH m AS (UPDATE models SET latest_version = latest_version + 1, updated_at = now()
                           WHERE project = $1 AND name = $2 RETURNING *)
                {service_sql.MODEL.replace("FROM models m", "FROM m")}""",
            project,
            name,
        )
        assert model is not None, f"no model {project}/{name}"
        location = {"uri": "", "revision": "", "path": ""}
        columns = {
            "stage": "DEVELOPMENT",
            "status": "PENDING_UPLOAD",
            "framework": "sklearn",
            "payload_format": "skops",
            "author": "bench",
            "description": "benchmark version",
            "signature": SIGNATURE,
            "params": VERSION_PARAMS,
            "dependencies": DEPENDENCIES,
            "code_location": location,
            "data_location": location,
            "tags": VERSION_TAGS,
            "serving": {},
            "model_id": model["id"],
            "project": project,
            "model": name,
            "version": model["latest_version"],
        }
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        row = await conn.fetchrow(
            f"INSERT INTO model_versions ({', '.join(columns)}) VALUES ({placeholders}) RETURNING *",
            *columns.values(),
        )
        assert row is not None
        version = version_from_row({**row, "aliases": [], "produced_by": []})
        # The audit event, with the version's message stored in the same statement.
        await conn.fetchval(
            f"""WITH e AS (
                  INSERT INTO audit_events (actor, action, project, resource, before, after, reason, request_id, access)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id),
                w AS (INSERT INTO version_wire (version_id, message) SELECT * FROM unnest($10::bigint[], $11::bytea[])
                      ON CONFLICT (version_id) DO UPDATE SET message = excluded.message)
                SELECT id FROM e, pg_notify('{AUDIT_CHANNEL}', e.id::text) AS n""",
            *("bench", "version.create", project, version.reference, None, snapshot(version), "", "direct", ""),
            [version.id],
            [_WIRE.version(version)],
        )


async def explain(pool: asyncpg.Pool, sql: str, args: Sequence[object]) -> tuple[float, list[str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
    lines = [r[0] for r in rows]
    took = next((float(x.split(":")[1].split()[0]) for x in lines if x.startswith("Execution Time")), math.nan)
    return took, lines
