"""The metadata store's transactions on Postgres: every write, with its audit event, and the
cache entries it touched invalidated as it commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from modelyard_common.errors import AlreadyExistsError, NotFoundError
from modelyard_common.postgres import connection
from modelyard_metadata.domain.access import Role, RoleBinding
from modelyard_metadata.domain.entities import (
    EncodedVersion,
    MetricPoint,
    Model,
    ModelVersion,
    NewAuditEvent,
    NewModel,
    NewVersion,
    Project,
    Stage,
)
from modelyard_metadata.domain.ports import WireFormat
from modelyard_metadata.domain.validation import VersionRef
from modelyard_metadata.storage.cache import AUTH, VersionCache
from modelyard_metadata.storage.queries import (
    BY_ID,
    MODEL,
    VERSION_COLUMNS,
    Connection,
    find_versions,
    one_row,
    ref_query,
)
from modelyard_metadata.storage.rows import (
    binding_from_row,
    json_text,
    location_to_json,
    metric_to_json,
    model_from_row,
    project_from_row,
    version_columns,
    version_from_row,
)

__all__ = ["AUDIT_CHANNEL", "PgTransaction", "committed"]

AUDIT_CHANNEL = "modelyard_audit"

Tx = TypeVar("Tx", bound="PgTransaction")


def _store_messages(first: int) -> str:
    """Stores versions' messages: ids in placeholder ``first``, messages in the next one."""
    return (
        "INSERT INTO version_wire (version_id, message) "
        f"SELECT * FROM unnest(${first}::bigint[], ${first + 1}::bytea[]) "
        "ON CONFLICT (version_id) DO UPDATE SET message = excluded.message"
    )


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
        await tx.store_messages()
        # Its statements are done; only COMMIT is left. Should COMMIT fail, its outcome may be
        # unknown: the mark stays until its lease ends.
        write = await cache.begin_write(tx.touched) if cache is not None and tx.touched else ""
    if cache is not None and tx.touched:
        await cache.invalidate(tx.touched, write)


class PgTransaction:
    """Implements MetadataTransaction on one connection inside an open transaction.

    Transactions are READ COMMITTED: each statement reads the snapshot taken when it started. A
    ``SELECT ... FOR UPDATE`` that waited for another transaction's lock returns the locked row
    as that transaction left it, but everything else it reads (joins, subqueries: a model's
    aliases, a version's lineage) from its old snapshot. So ``lock_model`` and ``lock_version``
    lock in one statement and read in the next, started once the lock is held: what a change is
    based on (and its audit event's ``before``) is then what the previous change left.
    """

    def __init__(self, conn: Connection, wire: WireFormat | None = None) -> None:
        self._conn = conn
        self._wire = wire
        self._messages: dict[int, bytes] = {}
        self._written: dict[int, bytes] = {}
        self.touched: set[str] = set()

    def _encoded(self, version: ModelVersion) -> ModelVersion:
        """``version``, written or changed just now; its message is stored with the next audit
        event, or before COMMIT (see version_wire; without ``wire``, readers encode it from the
        row). Every change of a version's row goes through ``_update``, which drops it meanwhile."""
        if self._wire is not None:
            self._messages[version.id] = self._written[version.id] = self._wire.version(version)
        return version

    def encoded(self, version: ModelVersion) -> EncodedVersion:
        """``version`` as the wire carries it: the message stored for it in this transaction."""
        assert self._wire is not None, "a transaction of versions has a wire format"
        message = self._written.get(version.id) or self._wire.version(version)
        return EncodedVersion(version.reference, message + self._wire.appended(version.aliases, version.produced_by))

    async def store_messages(self) -> None:
        """Stores the messages of the versions changed since the last audit event."""
        if self._messages:
            await self._conn.execute(_store_messages(1), *self._unstored())

    def _unstored(self) -> tuple[list[int], list[bytes]]:
        messages, self._messages = self._messages, {}
        return list(messages), list(messages.values())

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
        return project_from_row(one_row(row))

    async def insert_model(self, model: NewModel) -> Model:
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
        return model_from_row(one_row(await self._conn.fetchrow(MODEL + " WHERE m.id = $1", model_id)))

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
        if table == "model_versions":
            # A message not stored yet is older than this change, and the trigger cannot remove
            # it: it is dropped here, and the caller encodes the version again.
            self._messages.pop(row_id, None)
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
        await self._conn.execute(
            f"UPDATE {table} SET {sets}, updated_at = now() WHERE id = $1", row_id, *columns.values()
        )

    async def reserve_version_number(self, project: str, name: str) -> tuple[Model, int] | None:
        # One statement locks the row and bumps the counter: concurrent creates queue on the lock.
        row = await self._conn.fetchrow(
            f"""WITH m AS (UPDATE models SET latest_version = latest_version + 1, updated_at = now()
                           WHERE project = $1 AND name = $2 RETURNING *)
                {MODEL.replace("FROM models m", "FROM m")}""",
            project,
            name,
        )
        if row is None:
            return None
        model = model_from_row(row)
        self.touched.add(model.full_name)
        return model, model.latest_version

    async def insert_version(self, version: NewVersion) -> ModelVersion:
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
        row = one_row(
            await self._conn.fetchrow(
                f"INSERT INTO model_versions ({names}) VALUES ({values}) RETURNING *", *columns.values()
            )
        )
        parents = version.parents
        await self._set_parents(row["id"], [p.id for p in parents], replace=False)
        self.touched.add(version.model_name)
        # What VERSION_COLUMNS would add: a new version has no aliases yet, and its parents are known.
        ordered = sorted(parents, key=lambda p: (p.project, p.model, p.version))
        return self._encoded(version_from_row({**row, "aliases": [], "produced_by": [p.reference for p in ordered]}))

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
        return version_from_row(one_row(await self._conn.fetchrow(BY_ID, version_id)))

    async def lock_version(self, ref: VersionRef) -> ModelVersion | None:
        """The version, locked, as it is once the lock is held (see ``PgTransaction``)."""
        query, args = ref_query(ref, lock=True)
        version_id = await self._conn.fetchval(query, *args)
        return None if version_id is None else await self._version_by_id(version_id)

    async def find_versions(self, refs: Sequence[VersionRef]) -> list[ModelVersion | None]:
        return await find_versions(self._conn, refs)

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
        return self._encoded(await self._version_by_id(version.id))

    async def add_metrics(self, version: ModelVersion, points: Sequence[MetricPoint]) -> ModelVersion:
        latest = {p.name: p for p in version.metrics}
        for point in points:
            current = latest.get(point.name)
            if current is None or (point.time, point.step) >= (current.time, current.step):
                latest[point.name] = point
        # The points, the latest values and the version as they leave it, in one statement.
        row = await self._conn.fetchrow(
            f"""WITH p AS (
                  INSERT INTO metric_points (version_id, name, number, structured, step, time, scoring_run_id)
                  SELECT $1, name, number, structured::jsonb, step, time, run
                  FROM unnest($2::text[], $3::float8[], $4::text[], $5::bigint[], $6::timestamptz[], $7::uuid[])
                       AS u(name, number, structured, step, time, run))
                UPDATE model_versions v SET metrics = $8, updated_at = now() WHERE v.id = $1
                RETURNING {VERSION_COLUMNS}""",
            version.id,
            [p.name for p in points],
            [p.number for p in points],
            [None if p.structured is None else json_text(p.structured) for p in points],
            [p.step for p in points],
            [p.time for p in points],
            [p.source and p.source.scoring_run for p in points],
            {name: metric_to_json(p) for name, p in latest.items()},
        )
        self.touched.add(version.model_name)
        return self._encoded(version_from_row(one_row(row)))

    async def unpassed_gates(self, version: ModelVersion, stage: Stage) -> list[tuple[str, str | None]]:
        rows = await self._conn.fetch(
            """SELECT t.name, (SELECT r.state FROM scoring_runs r WHERE r.test_id = t.id AND r.version_id = $2
                               ORDER BY r.created_at DESC, r.id DESC LIMIT 1) AS last
               FROM scoring_tests t
               WHERE t.model_id = $1 AND t.active AND $3 = ANY (t.required_for)
                 AND NOT EXISTS (SELECT 1 FROM scoring_runs r WHERE r.test_id = t.id AND r.version_id = $2
                                 AND r.state = 'PASSED')
               ORDER BY t.name""",
            version.model_id,
            version.id,
            stage.value,
        )
        return [(row["name"], row["last"]) for row in rows]

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

    async def first_service_event(self, service: str, origin: str, source_id: int) -> bool:
        inserted = await self._conn.fetchval(
            "INSERT INTO service_events (service, origin, source_id) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING true",
            service,
            origin,
            source_id,
        )
        return bool(inserted)

    async def append_audit(self, event: NewAuditEvent) -> int:
        # The messages of the versions changed go with it: no round trip of their own.
        messages = self._unstored() if self._messages else ()
        stored = f", w AS ({_store_messages(10)})" if messages else ""
        return await self._conn.fetchval(  # type: ignore[no-any-return]
            f"""WITH e AS (
                  INSERT INTO audit_events (actor, action, project, resource, before, after, reason, request_id, access)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id){stored}
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
            *messages,
        )

    async def append_audits(self, events: Sequence[NewAuditEvent]) -> list[int]:
        """Many events in one statement (a scoring claim's); a version changed meanwhile keeps
        no stored message, so reads encode it."""
        if not events:
            return []
        rows = await self._conn.fetch(
            f"""WITH e AS (
                  INSERT INTO audit_events (actor, action, project, resource, before, after, reason, request_id, access)
                  SELECT actor, action, project, resource, before::jsonb, after::jsonb, reason, request_id, access
                  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::text[], $9::text[]) WITH ORDINALITY
                       AS u(actor, action, project, resource, before, after, reason, request_id, access, position)
                  ORDER BY position RETURNING id)
                SELECT id FROM e, pg_notify('{AUDIT_CHANNEL}', e.id::text) AS n ORDER BY id""",
            [e.caller.actor for e in events],
            [e.action for e in events],
            [e.project for e in events],
            [e.resource for e in events],
            [None if e.before is None else json_text(e.before) for e in events],
            [None if e.after is None else json_text(e.after) for e in events],
            [e.reason for e in events],
            [e.caller.request_id for e in events],
            [e.caller.access for e in events],
        )
        return [row["id"] for row in rows]

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
