"""SQL the store's reads and its transactions share: how a model's or a version's row is selected,
and the version a reference names (one reference, or many in one query)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import asyncpg

from modelyard_metadata.domain.entities import ModelVersion
from modelyard_metadata.domain.validation import VersionRef
from modelyard_metadata.storage.rows import version_from_row

__all__ = ["BY_ID", "MODEL", "VERSION_COLUMNS", "Connection", "find_versions", "one_row", "ref_query"]

# A pooled connection proxies a Connection; code here takes either.
Connection: TypeAlias = "asyncpg.Connection | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

# A model with its aliases and its lifecycle indicator: the version aliased "champion", else its
# newest (lead_* are NULL while it has none).
MODEL = """
SELECT m.*, COALESCE((SELECT jsonb_object_agg(a.alias, av.version) FROM aliases a
                      JOIN model_versions av ON av.id = a.version_id WHERE a.model_id = m.id), '{}') AS aliases,
       lead.version AS lead_version, lead.stage AS lead_stage, lead.status AS lead_status
FROM models m
LEFT JOIN LATERAL (
  (SELECT lv.version, lv.stage, lv.status FROM aliases la JOIN model_versions lv ON lv.id = la.version_id
   WHERE la.model_id = m.id AND la.alias = 'champion')
  UNION ALL
  (SELECT lv.version, lv.stage, lv.status FROM model_versions lv
   WHERE lv.model_id = m.id ORDER BY lv.version DESC LIMIT 1)
  LIMIT 1) lead ON true"""
VERSION_COLUMNS = """v.*,
  ARRAY(SELECT a.alias FROM aliases a WHERE a.version_id = v.id ORDER BY a.alias) AS aliases,
  ARRAY(SELECT p.project || '/' || p.model || ':' || p.version FROM version_lineage l
        JOIN model_versions p ON p.id = l.parent_id WHERE l.version_id = v.id
        ORDER BY p.project, p.model, p.version) AS produced_by"""
BY_ID = f"SELECT {VERSION_COLUMNS} FROM model_versions v WHERE v.id = $1"
# "{}": the columns selected (all of VERSION_COLUMNS, or only the id to lock).
_BY_NUMBER = "SELECT {} FROM model_versions v WHERE v.project = $1 AND v.model = $2 AND v.version = $3"
_BY_ALIAS = """SELECT {} FROM aliases al JOIN models m ON m.id = al.model_id
JOIN model_versions v ON v.id = al.version_id WHERE m.project = $1 AND m.name = $2 AND al.alias = $3"""
_LATEST_READY = """SELECT {} FROM model_versions v
WHERE v.project = $1 AND v.model = $2 AND v.status = 'READY' ORDER BY v.version DESC"""
# Each reference (project, model, and a number, an alias or neither) picks one version as above.
_BY_REFS = f"""SELECT r.i AS ref_index, {VERSION_COLUMNS}
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY AS r(project, model, number, alias, i)
CROSS JOIN LATERAL (
  SELECT c.id FROM model_versions c
  WHERE c.project = r.project AND c.model = r.model AND CASE
    WHEN r.number IS NOT NULL THEN c.version = r.number
    WHEN r.alias IS NOT NULL THEN c.id = (
      SELECT al.version_id FROM aliases al JOIN models m ON m.id = al.model_id
      WHERE m.project = r.project AND m.name = r.model AND al.alias = r.alias)
    ELSE c.status = 'READY' END
  ORDER BY c.version DESC LIMIT 1) f
JOIN model_versions v ON v.id = f.id"""


def one_row(record: asyncpg.Record | None) -> asyncpg.Record:
    """The row of a statement that always returns one (INSERT ... RETURNING, aggregates)."""
    if record is None:
        raise RuntimeError("a statement that always returns a row returned none")
    return record


def ref_query(ref: VersionRef, lock: bool) -> tuple[str, list[Any]]:
    """The version ``ref`` names: its whole row, or (``lock``) only its id, locking the row."""
    columns, suffix = ("v.id", " LIMIT 1 FOR UPDATE OF v") if lock else (VERSION_COLUMNS, " LIMIT 1")
    if ref.version is not None:
        return _BY_NUMBER.format(columns) + suffix, [ref.project, ref.model, ref.version]
    if ref.alias is not None:
        return _BY_ALIAS.format(columns) + suffix, [ref.project, ref.model, ref.alias]
    return _LATEST_READY.format(columns) + suffix, [ref.project, ref.model]


async def find_versions(conn: Connection, refs: Sequence[VersionRef]) -> list[ModelVersion | None]:
    """The version each of ``refs`` names (None: none), in their order, in one query."""
    if not refs:
        return []
    rows = await conn.fetch(
        _BY_REFS,
        [r.project for r in refs],
        [r.model for r in refs],
        [r.version for r in refs],
        [r.alias for r in refs],
    )
    found = {row["ref_index"]: version_from_row(row) for row in rows}
    return [found.get(i) for i in range(1, len(refs) + 1)]
