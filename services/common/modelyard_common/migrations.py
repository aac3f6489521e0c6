"""Applies the SQL migrations a service ships, once each, in order.

Replicas (and services) starting together serialize on a Postgres advisory lock, so each
migration runs once; each one commits together with its row in the service's migrations table.
A service that keeps its tables in a schema of its own (the registry) names it, and its
migrations table lives there too.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import Any

__all__ = ["migrate"]

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x6D6F64656C79  # "modely"
_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


def _migrations(package: str) -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files(package).iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text()))
    return sorted(found)


async def migrate(conn: Any, package: str, schema: str | None = None) -> list[str]:
    """Applies the ``NNNN_name.sql`` files of ``package`` not applied yet (an asyncpg connection);
    returns the names of the migrations it applied."""
    table = f"{schema}.schema_migrations" if schema else "schema_migrations"
    applied_now = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        if schema:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} "
            "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {r["version"] for r in await conn.fetch(f"SELECT version FROM {table}")}
        for version, name, sql in _migrations(package):
            if version in applied:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(f"INSERT INTO {table} (version, name) VALUES ($1, $2)", version, name)
            logger.info("applied migration", extra={"migration": f"{version:04d}_{name}"})
            applied_now.append(f"{version:04d}_{name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
