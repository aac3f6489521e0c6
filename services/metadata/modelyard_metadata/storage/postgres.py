"""The metadata store on Postgres (asyncpg), with an optional Redis cache for hot lookups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeAlias, TypeVar

import asyncpg
import orjson

from modelyard_common.errors import AlreadyExistsError, NotFoundError
from modelyard_common.postgres import connection
from modelyard_metadata.domain.access import Role, RoleBinding
from modelyard_metadata.domain.entities import (
    AuditEvent,
    LineageEdge,
    LineageNode,
    MetricPoint,
    Model,
    ModelVersion,
    NewAuditEvent,
    Project,
    Stage,
    VersionStatus,
)
from modelyard_metadata.domain.ports import AuditQuery, ProjectStats, SearchQuery
from modelyard_metadata.domain.validation import VersionRef
from modelyard_metadata.storage import search_sql
from modelyard_metadata.storage.cache import AUTH, VersionCache
from modelyard_metadata.storage.rows import (
    Row,
    audit_from_row,
    binding_from_row,
    location_to_json,
    metric_to_json,
    model_from_row,
    project_from_row,
    version_columns,
    version_from_row,
)

__all__ = ["AUDIT_CHANNEL", "Connection", "PgStore", "PgTransaction", "committed", "init_connection"]

# A pooled connection proxies a Connection; code here takes either.
Connection: TypeAlias = "asyncpg.Connection | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

AUDIT_CHANNEL = "modelyard_audit"

_MODEL = """
SELECT m.*, COALESCE((SELECT jsonb_object_agg(a.alias, av.version) FROM aliases a
                      JOIN model_versions av ON av.id = a.version_id WHERE a.model_id = m.id), '{}') AS aliases
FROM models m"""
_VERSION_COLUMNS = """v.*,
  ARRAY(SELECT a.alias FROM aliases a WHERE a.version_id = v.id ORDER BY a.alias) AS aliases,
  ARRAY(SELECT p.project || '/' || p.model || ':' || p.version FROM version_lineage l
        JOIN model_versions p ON p.id = l.parent_id WHERE l.version_id = v.id
        ORDER BY p.project, p.model, p.version) AS produced_by"""
# "{}": the columns selected (all of _VERSION_COLUMNS, or only the id to lock).
_BY_NUMBER = "SELECT {} FROM model_versions v WHERE v.project = $1 AND v.model = $2 AND v.version = $3"
_BY_ALIAS = """SELECT {} FROM aliases al JOIN models m ON m.id = al.model_id
JOIN model_versions v ON v.id = al.version_id WHERE m.project = $1 AND m.name = $2 AND al.alias = $3"""
_LATEST_READY = """SELECT {} FROM model_versions v
WHERE v.project = $1 AND v.model = $2 AND v.status = 'READY' ORDER BY v.version DESC"""
_BY_ID = f"SELECT {_VERSION_COLUMNS} FROM model_versions v WHERE v.id = $1"


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: Connection) -> None:
    """Type codecs of each pooled connection."""
    # orjson: decoding the JSON columns was a sixth of a search page's CPU with the json module.
    await conn.set_type_codec("jsonb", encoder=_json_text, decoder=orjson.loads, schema="pg_catalog")


def _row(record: asyncpg.Record | None) -> asyncpg.Record:
    """The row of a statement that always returns one (INSERT ... RETURNING, aggregates)."""
    if record is None:
        raise RuntimeError("a statement that always returns a row returned none")
    return record


def _ref_query(ref: VersionRef, lock: bool) -> tuple[str, list[Any]]:
    """The version ``ref`` names: its whole row, or (``lock``) only its id, locking the row."""
    columns, suffix = ("v.id", " LIMIT 1 FOR UPDATE OF v") if lock else (_VERSION_COLUMNS, " LIMIT 1")
    if ref.version is not None:
        return _BY_NUMBER.format(columns) + suffix, [ref.project, ref.model, ref.version]
    if ref.alias is not None:
        return _BY_ALIAS.format(columns) + suffix, [ref.project, ref.model, ref.alias]
    return _LATEST_READY.format(columns) + suffix, [ref.project, ref.model]


def _cache_key(ref: VersionRef) -> str:
    return f"v:{ref.version}" if ref.version is not None else f"a:{ref.alias}" if ref.alias else "latest"


Tx = TypeVar("Tx", bound="PgTransaction")


@asynccontextmanager
async def committed(
    pool: asyncpg.Pool, cache: VersionCache | None, make: Callable[[Connection], Tx]
) -> AsyncIterator[Tx]:
    """A transaction of ``make``'s type; the cache entries it touched are invalidated just before
    it commits and again once it has, before the caller goes on (see ``cache``: why no reader
    sees a stale row, wherever this process dies)."""
    async with connection(pool) as conn, conn.transaction():
        tx = make(conn)
        yield tx
        # Its statements are done; only COMMIT is left. Should COMMIT fail, its outcome may be
        # unknown: the mark stays until its lease ends.
        write = await cache.begin_write(tx.touched) if cache is not None and tx.touched else ""
    if cache is not None and tx.touched:
        await cache.invalidate(tx.touched, write)


class PgStore:
    """Implements MetadataStore. Reads of models and versions go through the cache when one is
    given; a transaction invalidates every model it touched right after it commits."""

    def __init__(self, pool: asyncpg.Pool, cache: VersionCache | None = None) -> None:
        self._pool = pool
        self._cache = cache

    def _connection(self) -> AbstractAsyncContextManager[Connection]:
        return connection(self._pool)

    def transaction(self) -> AbstractAsyncContextManager[PgTransaction]:
        return committed(self._pool, self._cache, PgTransaction)

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
            counts = _row(
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
                row = _row(
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
            f"{project}/{name}", "m", _MODEL + " WHERE m.project = $1 AND m.name = $2", (project, name)
        )
        return model_from_row(row) if row else None

    async def list_models(self, project: str, include_archived: bool, after: str, limit: int) -> list[Model]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                _MODEL + " WHERE m.project = $1 AND m.name > $2 AND ($3 OR NOT m.archived) ORDER BY m.name LIMIT $4",
                project,
                after,
                include_archived,
                limit,
            )
        return [model_from_row(r) for r in rows]

    async def get_version(self, ref: VersionRef) -> ModelVersion | None:
        query, args = _ref_query(ref, lock=False)
        row = await self._cached_row(ref.model_name, _cache_key(ref), query, args)
        return version_from_row(row) if row else None

    async def list_versions(self, project: str, model: str, below: int, limit: int) -> list[ModelVersion]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_VERSION_COLUMNS} FROM model_versions v WHERE v.project = $1 AND v.model = $2 "
                "AND v.version < $3 ORDER BY v.version DESC LIMIT $4",
                project,
                model,
                below,
                limit,
            )
        return [version_from_row(r) for r in rows]

    async def search_versions(self, query: SearchQuery) -> tuple[list[ModelVersion], str]:
        compiled = search_sql.compile_search(
            query.expr,
            query.order,
            project=query.project,
            page_token=query.page_token,
            page_size=query.page_size,
            visible=query.visible,
        )
        async with self._connection() as conn:
            rows = await conn.fetch(compiled.query(columns=_VERSION_COLUMNS), *compiled.args)
        page, token = compiled.page(rows)
        return [version_from_row(r) for r in page], token

    async def metric_history(self, version: ModelVersion, name: str) -> list[MetricPoint]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT * FROM metric_points WHERE version_id = $1 AND name = $2 ORDER BY step, time, id",
                version.id,
                name,
            )
        return [MetricPoint(r["name"], r["number"], r["structured"], r["step"], r["time"]) for r in rows]

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


class PgTransaction:
    """Implements MetadataTransaction on one connection inside an open transaction.

    Transactions are READ COMMITTED: each statement reads the snapshot taken when it started. A
    ``SELECT ... FOR UPDATE`` that waited for another transaction's lock returns the locked row
    as that transaction left it, but everything else it reads (joins, subqueries: a model's
    aliases, a version's lineage) from its old snapshot. So ``lock_model`` and ``lock_version``
    lock in one statement and read in the next, started once the lock is held: what a change is
    based on (and its audit event's ``before``) is then what the previous change left.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.touched: set[str] = set()

    async def insert_project(self, name: str, description: str, owner: str) -> Project:
        try:
            row = await self._conn.fetchrow(
                "INSERT INTO projects (name, description, owner) VALUES ($1, $2, $3) RETURNING *",
                name,
                description,
                owner,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExistsError(f"project {name!r} already exists") from None
        return project_from_row(_row(row))

    async def insert_model(self, model: Model) -> Model:
        project_id = await self._conn.fetchval("SELECT id FROM projects WHERE name = $1", model.project)
        if project_id is None:
            raise NotFoundError(f"project {model.project!r} does not exist")
        try:
            model_id = await self._conn.fetchval(
                """INSERT INTO models (project_id, project, name, description, owner, team, kind, tags,
                                       code_location, data_location)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id""",
                project_id,
                model.project,
                model.name,
                model.description,
                model.owner,
                model.team,
                model.kind.value,
                model.tags,
                location_to_json(model.code_location),
                location_to_json(model.data_location),
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExistsError(f"model '{model.full_name}' already exists") from None
        self.touched.add(model.full_name)
        return await self._model_by_id(model_id)

    async def _model_by_id(self, model_id: int) -> Model:
        return model_from_row(_row(await self._conn.fetchrow(_MODEL + " WHERE m.id = $1", model_id)))

    async def lock_model(self, project: str, name: str) -> Model | None:
        """The model, locked, as it is once the lock is held (see ``PgTransaction``)."""
        model_id = await self._conn.fetchval(
            "SELECT id FROM models WHERE project = $1 AND name = $2 FOR UPDATE", project, name
        )
        return None if model_id is None else await self._model_by_id(model_id)

    async def update_model(self, model: Model, changes: dict[str, Any]) -> Model:
        columns = {
            k: (location_to_json(v) if k.endswith("_location") else getattr(v, "value", v)) for k, v in changes.items()
        }
        await self._update("models", model.id, columns)
        self.touched.add(model.full_name)
        return await self._model_by_id(model.id)

    async def _update(self, table: str, row_id: int, columns: Mapping[str, Any]) -> None:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
        await self._conn.execute(
            f"UPDATE {table} SET {sets}, updated_at = now() WHERE id = $1", row_id, *columns.values()
        )

    async def reserve_version_number(self, project: str, name: str) -> tuple[Model, int] | None:
        # One statement locks the row and bumps the counter: concurrent creates queue on the lock.
        row = await self._conn.fetchrow(
            f"""WITH m AS (UPDATE models SET latest_version = latest_version + 1, updated_at = now()
                           WHERE project = $1 AND name = $2 RETURNING *)
                {_MODEL.replace("FROM models m", "FROM m")}""",
            project,
            name,
        )
        if row is None:
            return None
        model = model_from_row(row)
        self.touched.add(model.full_name)
        return model, model.latest_version

    async def insert_version(self, version: ModelVersion, parents: Sequence[ModelVersion]) -> ModelVersion:
        columns = version_columns(
            {
                "stage": version.stage,
                "status": version.status,
                "framework": version.framework,
                "payload_format": version.payload_format,
                "author": version.author,
                "description": version.description,
                "inputs": version.inputs,
                "outputs": version.outputs,
                "hyperparameters": version.hyperparameters,
                "dependencies": version.dependencies,
                "code_location": version.code_location,
                "data_location": version.data_location,
                "tags": version.tags,
                "serving": version.serving,
            }
        )
        columns |= {"model_id": version.model_id, "project": version.project, "model": version.model,
                    "version": version.version}  # fmt: skip
        names = ", ".join(columns)
        values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        row = _row(
            await self._conn.fetchrow(
                f"INSERT INTO model_versions ({names}) VALUES ({values}) RETURNING *", *columns.values()
            )
        )
        await self._set_parents(row["id"], [p.id for p in parents], replace=False)
        self.touched.add(version.model_name)
        # What _VERSION_COLUMNS would add: a new version has no aliases yet, and its parents are known.
        ordered = sorted(parents, key=lambda p: (p.project, p.model, p.version))
        return version_from_row({**row, "aliases": [], "produced_by": [p.reference for p in ordered]})

    async def _set_parents(self, version_id: int, parent_ids: Sequence[int], *, replace: bool = True) -> None:
        if replace:
            await self._conn.execute("DELETE FROM version_lineage WHERE version_id = $1", version_id)
        if parent_ids:
            await self._conn.execute(
                "INSERT INTO version_lineage (version_id, parent_id) SELECT $1, unnest($2::bigint[])",
                version_id,
                list(parent_ids),
            )

    async def _version_by_id(self, version_id: int) -> ModelVersion:
        return version_from_row(_row(await self._conn.fetchrow(_BY_ID, version_id)))

    async def lock_version(self, ref: VersionRef) -> ModelVersion | None:
        """The version, locked, as it is once the lock is held (see ``PgTransaction``)."""
        query, args = _ref_query(ref, lock=True)
        version_id = await self._conn.fetchval(query, *args)
        return None if version_id is None else await self._version_by_id(version_id)

    async def find_versions(self, refs: Sequence[VersionRef]) -> list[ModelVersion | None]:
        found = []
        for ref in refs:
            query, args = _ref_query(ref, lock=False)
            row = await self._conn.fetchrow(query, *args)
            found.append(version_from_row(row) if row else None)
        return found

    async def update_version(
        self, version: ModelVersion, changes: dict[str, Any], parent_ids: Sequence[int] | None = None
    ) -> ModelVersion:
        if "inputs" in changes or "outputs" in changes:
            changes = {"inputs": version.inputs, "outputs": version.outputs} | changes
        columns = version_columns(changes)
        if columns:
            await self._update("model_versions", version.id, columns)
        if parent_ids is not None:
            await self._set_parents(version.id, parent_ids)
        self.touched.add(version.model_name)
        return await self._version_by_id(version.id)

    async def add_metrics(self, version: ModelVersion, points: Sequence[MetricPoint]) -> ModelVersion:
        await self._conn.executemany(
            "INSERT INTO metric_points (version_id, name, number, structured, step, time) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            [(version.id, p.name, p.number, p.structured, p.step, p.time) for p in points],
        )
        latest = {p.name: p for p in version.metrics}
        for point in points:
            current = latest.get(point.name)
            if current is None or (point.time, point.step) >= (current.time, current.step):
                latest[point.name] = point
        await self._update(
            "model_versions", version.id, {"metrics": {name: metric_to_json(p) for name, p in latest.items()}}
        )
        self.touched.add(version.model_name)
        return await self._version_by_id(version.id)

    async def set_alias(self, model: Model, alias: str, version: ModelVersion) -> int | None:
        previous = model.aliases.get(alias)
        await self._conn.execute(
            """INSERT INTO aliases (model_id, alias, version_id) VALUES ($1, $2, $3)
               ON CONFLICT (model_id, alias) DO UPDATE SET version_id = excluded.version_id, updated_at = now()""",
            model.id,
            alias,
            version.id,
        )
        self.touched.add(model.full_name)
        return previous

    async def delete_alias(self, model: Model, alias: str) -> int | None:
        deleted: int | None = await self._conn.fetchval(
            "DELETE FROM aliases a USING model_versions v WHERE a.model_id = $1 AND a.alias = $2 "
            "AND v.id = a.version_id RETURNING v.version",
            model.id,
            alias,
        )
        self.touched.add(model.full_name)
        return deleted

    async def append_audit(self, event: NewAuditEvent) -> int:
        return await self._conn.fetchval(  # type: ignore[no-any-return]
            f"""WITH e AS (
                  INSERT INTO audit_events (actor, action, project, resource, before, after, reason, request_id, access)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id)
                SELECT id FROM e, pg_notify('{AUDIT_CHANNEL}', e.id::text) AS n""",
            event.caller.actor,
            event.action,
            event.project,
            event.resource,
            event.before,
            event.after,
            event.reason,
            event.caller.request_id,
            event.caller.access,
        )

    async def grant_role(self, project: str, principal: str, role: Role, granted_by: str) -> RoleBinding:
        row = await self._conn.fetchrow(
            """INSERT INTO project_roles (project, principal, role, granted_by) VALUES ($1, $2, $3, $4)
               ON CONFLICT (project, principal) DO UPDATE SET role = $3, granted_by = $4, granted_at = now()
               RETURNING *""",
            project,
            principal,
            role.name,
            granted_by,
        )
        self.touched.add(AUTH)
        assert row is not None  # an upsert returns its row
        return binding_from_row(row)
