"""Applies the SQL migrations shipped with the service, once each, in order.

Replicas starting together serialize on a Postgres advisory lock, so each migration runs once;
each one commits together with its row in schema_migrations.
"""

from __future__ import annotations

import logging
import re
from importlib import resources

from modelyard_metadata.storage.postgres import Connection

__all__ = ["migrate"]

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x6D6F64656C79  # "modely"
_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("modelyard_metadata.migrations").iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text()))
    return sorted(found)


async def migrate(conn: Connection) -> list[str]:
    """Brings the schema up to date; returns the names of the migrations it applied."""
    applied_now = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in _migrations():
            if version in applied:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)
            logger.info("applied migration", extra={"migration": f"{version:04d}_{name}"})
            applied_now.append(f"{version:04d}_{name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
