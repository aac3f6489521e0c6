"""The metadata store's reads on Postgres (asyncpg), with an optional Redis cache for hot lookups;
its writes are PgTransaction's (``transaction``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import orjson

from modelyard_common.postgres import connection
from modelyard_metadata.domain.access import Identity
from modelyard_metadata.domain.entities import (
    AuditEvent,
    EncodedVersion,
    LineageEdge,
    LineageNode,
    MetricPoint,
    MetricSource,
    Model,
    ModelVersion,
    Project,
    Stage,
    VersionStatus,
)
from modelyard_metadata.domain.ports import AuditQuery, ProjectStats, SearchQuery, WireFormat
from modelyard_metadata.domain.validation import VersionRef
from modelyard_metadata.storage import search_sql
from modelyard_metadata.storage.access import PRINCIPAL_IDENTITY, identity_from_row
from modelyard_metadata.storage.cache import Lookup, VersionCache
from modelyard_metadata.storage.queries import (
    ENCODED_COLUMNS,
    MODEL,
    VERSION_COLUMNS,
    Connection,
    encoded_versions,
    find_versions,
    one_row,
    ref_query,
)
from modelyard_metadata.storage.rows import (
    Row,
    audit_from_row,
    json_text,
    model_from_row,
    project_from_row,
    version_from_row,
)
from modelyard_metadata.storage.transaction import PgTransaction, committed

__all__ = ["PgStore", "init_connection"]


async def init_connection(conn: Connection) -> None:
    """Type codecs of each pooled connection."""
    # orjson: decoding the JSON columns was a sixth of a search page's CPU with the json module.
    await conn.set_type_codec("jsonb", encoder=json_text, decoder=orjson.loads, schema="pg_catalog")


def _cache_key(ref: VersionRef) -> str:
    return f"v:{ref.version}" if ref.version is not None else f"a:{ref.alias}" if ref.alias else "latest"


class PgStore:
    """Implements MetadataStore. Reads of models and versions go through the cache when one is
    given; a transaction invalidates every model it touched right after it commits. Versions'
    messages are serialized by ``wire`` as they are written (see version_wire in the migrations)."""

    def __init__(self, pool: asyncpg.Pool, wire: WireFormat, cache: VersionCache | None = None) -> None:
        self._pool = pool
        self._wire = wire
        self._cache = cache

    def _connection(self) -> AbstractAsyncContextManager[Connection]:
        return connection(self._pool)

    def transaction(self) -> AbstractAsyncContextManager[PgTransaction]:
        return committed(self._pool, self._cache, lambda conn: PgTransaction(conn, self._wire))

    async def encode_missing(self, batch: int = 100) -> int:
        """Stores the message of every version that has none (written before version_wire, or by
        anything but the service), a batch per transaction; returns how many it encoded."""
        done, after = 0, 0
        while True:
            async with self._connection() as conn, conn.transaction():
                rows = await conn.fetch(
                    f"SELECT {VERSION_COLUMNS} FROM model_versions v WHERE v.id > $1 "
                    "AND NOT EXISTS (SELECT 1 FROM version_wire w WHERE w.version_id = v.id) "
                    "ORDER BY v.id LIMIT $2 FOR UPDATE OF v SKIP LOCKED",
                    after,
                    batch,
                )
                await conn.executemany(
                    "INSERT INTO version_wire (version_id, message) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    [(row["id"], self._wire.version(version_from_row(row))) for row in rows],
                )
            if len(rows) < batch:
                return done + len(rows)
            done, after = done + len(rows), rows[-1]["id"]

    async def principal_identity(self, name: str) -> Identity | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(PRINCIPAL_IDENTITY, name)
        return None if row is None else identity_from_row(row)

    async def _cached_row(self, model_name: str, key: str, query: str, args: Sequence[Any]) -> Row | None:
        if self._cache is None:
            async with self._connection() as conn:
                return await conn.fetchrow(query, *args)
        hit, generation = await self._cache.get(model_name, key)
        if hit is not None:
            return hit
        async with self._connection() as conn:
            row = await conn.fetchrow(query, *args)
        if row is not None and generation is not None:
            await self._cache.put(model_name, key, generation, dict(row))
        return row

    async def get_project(self, name: str) -> Project | None:
        async with self._connection() as conn:
            row = await conn.fetchrow("SELECT * FROM projects WHERE name = $1", name)
        return project_from_row(row) if row else None

    async def list_projects(self, after: str, limit: int, visible: frozenset[str] | None) -> list[Project]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                """SELECT * FROM projects WHERE name > $1 AND ($3::text[] IS NULL OR name = ANY($3))
                   ORDER BY name LIMIT $2""",
                after,
                limit,
                None if visible is None else sorted(visible),
            )
        return [project_from_row(r) for r in rows]

    async def project_stats(self, project: str, metric: str) -> ProjectStats:
        async with self._connection() as conn:
            counts = one_row(
                await conn.fetchrow(
                    "SELECT count(*) FILTER (WHERE NOT archived) AS live, count(*) FILTER (WHERE archived) AS archived "
                    "FROM models WHERE project = $1",
                    project,
                )
            )
            stages = await conn.fetch(
                "SELECT stage, count(*) AS n FROM model_versions WHERE project = $1 GROUP BY stage", project
            )
            owners = await conn.fetch(
                "SELECT owner, team, count(*) AS n FROM models WHERE project = $1 AND NOT archived "
                "GROUP BY owner, team ORDER BY n DESC, owner, team",
                project,
            )
            extremes = None
            if metric:
                row = one_row(
                    await conn.fetchrow(
                        """WITH m AS (
                         SELECT project || '/' || model || ':' || version AS ref,
                                (metrics -> $2 ->> 'number')::float8 AS value
                         FROM model_versions
                         WHERE project = $1 AND jsonb_typeof(metrics -> $2 -> 'number') = 'number')
                       SELECT min(value) AS lo, max(value) AS hi, count(*) AS n,
                              (SELECT ref FROM m ORDER BY value, ref LIMIT 1) AS lo_ref,
                              (SELECT ref FROM m ORDER BY value DESC, ref LIMIT 1) AS hi_ref
                       FROM m""",
                        project,
                        metric,
                    )
                )
                if row["n"]:
                    extremes = (row["lo"], row["hi"], row["lo_ref"], row["hi_ref"], row["n"])
        by_stage = {r["stage"]: r["n"] for r in stages}
        return ProjectStats(
            model_count=counts["live"],
            archived_model_count=counts["archived"],
            version_count=sum(by_stage.values()),
            versions_by_stage=by_stage,
            owners=[(r["owner"], r["team"], r["n"]) for r in owners],
            metric=extremes,
        )

    async def get_model(self, project: str, name: str) -> Model | None:
        row = await self._cached_row(
            f"{project}/{name}", "m", MODEL + " WHERE m.project = $1 AND m.name = $2", (project, name)
        )
        return model_from_row(row) if row else None

    async def list_models(self, project: str, include_archived: bool, after: str, limit: int) -> list[Model]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                MODEL + " WHERE m.project = $1 AND m.name > $2 AND ($3 OR NOT m.archived) ORDER BY m.name LIMIT $4",
                project,
                after,
                include_archived,
                limit,
            )
        return [model_from_row(r) for r in rows]

    async def get_version(self, ref: VersionRef) -> ModelVersion | None:
        query, args = ref_query(ref, lock=False)
        row = await self._cached_row(ref.model_name, _cache_key(ref), query, args)
        return version_from_row(row) if row else None

    def start_encoded_version(self, ref: VersionRef) -> EncodedRead:
        key = "w" + _cache_key(ref)
        return EncodedRead(self, ref, key, self._cache.lookup_bytes(ref.model_name, key) if self._cache else None)

    async def encoded_from_postgres(self, ref: VersionRef, key: str, generation: str | None) -> EncodedVersion | None:
        """The version ``ref`` names, read from Postgres and cached under ``generation`` (None: not)."""
        query, args = ref_query(ref, lock=False, columns=ENCODED_COLUMNS)
        async with self._connection() as conn:
            row = await conn.fetchrow(query, *args)
            if row is None:
                return None
            (found,) = await encoded_versions(conn, [row], self._wire)
        if self._cache is not None and generation is not None:
            data = found.reference.encode() + b"\n" + found.message
            await self._cache.put_bytes(ref.model_name, key, generation, data)
        return found

    async def find_versions(self, refs: Sequence[VersionRef]) -> list[ModelVersion | None]:
        async with self._connection() as conn:
            return await find_versions(conn, refs)

    async def list_versions(self, project: str, model: str, below: int, limit: int) -> list[ModelVersion]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {VERSION_COLUMNS} FROM model_versions v WHERE v.project = $1 AND v.model = $2 "
                "AND v.version < $3 ORDER BY v.version DESC LIMIT $4",
                project,
                model,
                below,
                limit,
            )
        return [version_from_row(r) for r in rows]

    async def search_versions(self, query: SearchQuery) -> tuple[list[EncodedVersion], str]:
        compiled = search_sql.compile_search(
            query.expr,
            query.order,
            project=query.project,
            page_token=query.page_token,
            page_size=query.page_size,
            visible=query.visible,
        )
        async with self._connection() as conn:
            page, token = compiled.page(await conn.fetch(compiled.query(columns=ENCODED_COLUMNS), *compiled.args))
            return await encoded_versions(conn, page, self._wire), token

    async def metric_history(self, version: ModelVersion, name: str) -> list[MetricPoint]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                """SELECT p.*, r.test_id, r.test_name, r.dataset FROM metric_points p
                   LEFT JOIN scoring_runs r ON r.id = p.scoring_run_id
                   WHERE p.version_id = $1 AND p.name = $2 ORDER BY p.step, p.time, p.id""",
                version.id,
                name,
            )
        return [
            MetricPoint(
                r["name"],
                r["number"],
                r["structured"],
                r["step"],
                r["time"],
                None
                if r["scoring_run_id"] is None
                else MetricSource(str(r["scoring_run_id"]), str(r["test_id"]), r["test_name"], r["dataset"]),
            )
            for r in rows
        ]

    async def lineage(
        self, version: ModelVersion, upstream: bool, downstream: bool, depth: int
    ) -> tuple[list[LineageNode], list[LineageEdge]]:
        async with self._connection() as conn:
            depths: dict[int, int] = {version.id: 0}
            for enabled, sign, near, far in ((upstream, -1, "version_id", "parent_id"),
                                             (downstream, 1, "parent_id", "version_id")):  # fmt: skip
                if not enabled:
                    continue
                rows = await conn.fetch(
                    f"""WITH RECURSIVE walk(id, depth) AS (
                          SELECT l.{far}, 1 FROM version_lineage l WHERE l.{near} = $1
                          UNION
                          SELECT l.{far}, w.depth + 1 FROM version_lineage l JOIN walk w ON l.{near} = w.id
                          WHERE w.depth < $2)
                        SELECT id, min(depth) AS depth FROM walk GROUP BY id""",
                    version.id,
                    depth,
                )
                for r in rows:
                    depths.setdefault(r["id"], sign * r["depth"])
            ids = list(depths)
            nodes = await conn.fetch(
                "SELECT id, project || '/' || model || ':' || version AS ref, stage, status "
                "FROM model_versions WHERE id = ANY($1::bigint[])",
                ids,
            )
            edges = await conn.fetch(
                "SELECT parent_id, version_id FROM version_lineage "
                "WHERE parent_id = ANY($1::bigint[]) AND version_id = ANY($1::bigint[])",
                ids,
            )
        refs = {r["id"]: r["ref"] for r in nodes}
        return (
            sorted(
                (LineageNode(r["ref"], Stage(r["stage"]), VersionStatus(r["status"]), depths[r["id"]]) for r in nodes),
                key=lambda n: (n.depth, n.reference),
            ),
            sorted(LineageEdge(refs[e["parent_id"]], refs[e["version_id"]]) for e in edges),
        )

    async def list_audit_events(self, query: AuditQuery, before_id: int, limit: int) -> list[AuditEvent]:
        where, args = _audit_where(query, 2)
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT * FROM audit_events WHERE id < $1 {where} ORDER BY id DESC LIMIT {int(limit)}",
                before_id,
                *args,
            )
        return [audit_from_row(r) for r in rows]

    async def audit_events_after(self, query: AuditQuery, after_id: int, limit: int) -> list[AuditEvent]:
        where, args = _audit_where(query, 2)
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT * FROM audit_events WHERE id > $1 {where} ORDER BY id LIMIT {int(limit)}", after_id, *args
            )
        return [audit_from_row(r) for r in rows]

    async def find_audit_event(self, event_id: int, query: AuditQuery) -> AuditEvent | None:
        where, args = _audit_where(query, 2)
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT * FROM audit_events WHERE id = $1 {where}", event_id, *args)
        return audit_from_row(row) if row else None


def _audit_where(query: AuditQuery, first: int) -> tuple[str, list[Any]]:
    clauses, args = [], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${first + len(args) - 1}"

    if query.project:
        clauses.append(f"project = {arg(query.project)}")
    if query.resource:
        # A model's name also selects its versions ("p/m:3") and aliases ("p/m@prod");
        # a project's name selects its models.
        exact = arg(query.resource)
        prefix = arg(query.resource.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
        clauses.append(
            f"(resource = {exact} OR resource LIKE {prefix} || ':%' OR resource LIKE {prefix} || '@%' "
            f"OR resource LIKE {prefix} || '/%')"
        )
    if query.actor:
        clauses.append(f"actor = {arg(query.actor)}")
    if query.since is not None:
        clauses.append(f"time >= {arg(query.since)}")
    return "".join(f" AND {c}" for c in clauses), args


class EncodedRead:
    """A read of one version as the wire carries it (``PgStore.start_encoded_version``): its
    cache lookup sent already, Postgres read (on a miss) only when its result is asked for."""

    __slots__ = ("_cached", "_key", "_ref", "_store")

    def __init__(self, store: PgStore, ref: VersionRef, key: str, cached: Lookup | None) -> None:
        self._store, self._ref, self._key, self._cached = store, ref, key, cached

    async def result(self) -> EncodedVersion | None:
        data, generation = await self._cached.result() if self._cached is not None else (None, None)
        if data is not None:
            reference, _, message = data.partition(b"\n")  # references hold no newline
            return EncodedVersion(reference.decode(), message)
        return await self._store.encoded_from_postgres(self._ref, self._key, generation)

    def discard(self) -> None:
        if self._cached is not None:
            self._cached.discard()
