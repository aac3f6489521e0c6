"""SQL the store's reads and its transactions share: how a model's or a version's row is selected,
and the version a reference names (one reference, or many in one query)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import asyncpg

from modelyard_metadata.domain.entities import EncodedVersion, ModelVersion
from modelyard_metadata.domain.ports import WireFormat
from modelyard_metadata.domain.validation import VersionRef
from modelyard_metadata.storage.rows import Row, version_from_row

__all__ = [
    "BY_ID",
    "ENCODED_COLUMNS",
    "MODEL",
    "VERSION_COLUMNS",
    "Connection",
    "encoded_versions",
    "find_versions",
    "one_row",
    "ref_query",
]

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
# What a version carries from other tables: its aliases, and the versions it was produced by.
_APART = """
  ARRAY(SELECT a.alias FROM aliases a WHERE a.version_id = v.id ORDER BY a.alias) AS aliases,
  ARRAY(SELECT p.project || '/' || p.model || ':' || p.version FROM version_lineage l
        JOIN model_versions p ON p.id = l.parent_id WHERE l.version_id = v.id
        ORDER BY p.project, p.model, p.version) AS produced_by"""
VERSION_COLUMNS = "v.*," + _APART
# What a read answering with versions' messages needs (encoded_versions): the stored message
# (NULL when there is none yet) and what is appended to it.
ENCODED_COLUMNS = (
    "v.id, v.project || '/' || v.model || ':' || v.version AS reference, "
    "(SELECT w.message FROM version_wire w WHERE w.version_id = v.id) AS message," + _APART
)
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


def ref_query(ref: VersionRef, lock: bool, columns: str = VERSION_COLUMNS) -> tuple[str, list[Any]]:
    """The version ``ref`` names: ``columns`` of it, or (``lock``) only its id, locking the row."""
    columns, suffix = ("v.id", " LIMIT 1 FOR UPDATE OF v") if lock else (columns, " LIMIT 1")
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


async def encoded_versions(conn: Connection, rows: Sequence[Row], wire: WireFormat) -> list[EncodedVersion]:
    """The versions of ``rows`` (selected with ENCODED_COLUMNS) as the wire carries them; those
    without a stored message are read whole again and encoded."""
    missing = [row["id"] for row in rows if row["message"] is None]
    whole: dict[int, Row] = {}
    if missing:
        query = f"SELECT {VERSION_COLUMNS} FROM model_versions v WHERE v.id = ANY($1::bigint[])"
        whole = {row["id"]: row for row in await conn.fetch(query, missing)}
    encoded = []
    for row in rows:
        message, aliases, produced_by = row["message"], row["aliases"], row["produced_by"]
        if message is None:
            version = version_from_row(whole[row["id"]])  # its aliases and lineage as read with it
            message = wire.version(version) + wire.appended(version.aliases, version.produced_by)
        elif aliases or produced_by:
            message += wire.appended(aliases, produced_by)
        encoded.append(EncodedVersion(row["reference"], message))
    return encoded
