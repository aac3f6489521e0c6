"""The deploy service's tables (schema ``deploy``) through an asyncpg pool."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

from modelyard_common.errors import AlreadyExistsError, NotFoundError
from modelyard_common.postgres import connection
from modelyard_common.values import DeploymentRuntime, DeploymentState, ReplicaState
from modelyard_deploy.domain.entities import Deployment, Replica, Revision

__all__ = ["SERVICE_ACTOR", "PgDeploymentStore", "PgLockedDeployment"]

SERVICE_ACTOR = "modelyard-deploy"  # the actor of what the service decides itself (a replica failing)

_DEPLOYMENT = (
    "SELECT d.*, coalesce(s.version_reference, '') AS serving_version_reference, "
    "coalesce(s.trusted_types, '{}') AS serving_trusted_types, coalesce(c.trusted_types, '{}') AS trusted_types "
    "FROM deploy.deployments d "
    "LEFT JOIN deploy.revisions s ON s.deployment = d.name AND s.revision = d.serving_revision "
    "LEFT JOIN deploy.revisions c ON c.deployment = d.name AND c.revision = d.revision"
)
_REPLICA_COLUMNS = "id, revision, state, since, endpoint, restarts, failures, message, pid"
_REPLICAS = f"SELECT {_REPLICA_COLUMNS} FROM deploy.replicas WHERE deployment = $1 ORDER BY revision, id"


def _replica(row: asyncpg.Record) -> Replica:
    return Replica(
        id=row["id"],
        revision=row["revision"],
        state=ReplicaState(row["state"]),
        since=row["since"],
        endpoint=row["endpoint"],
        restarts=row["restarts"],
        failures=row["failures"],
        message=row["message"],
        pid=row["pid"],
    )


def _deployment(row: asyncpg.Record, replicas: Sequence[asyncpg.Record]) -> Deployment:
    return Deployment(
        name=row["name"],
        project=row["project"],
        model_reference=row["model_reference"],
        version_reference=row["version_reference"],
        replicas=row["replicas"],
        runtime=DeploymentRuntime(row["runtime"]),
        state=DeploymentState(row["state"]),
        revision=row["revision"],
        created_by=row["created_by"],
        status_message=row["status_message"],
        serving_revision=row["serving_revision"],
        serving_version_reference=row["serving_version_reference"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        replica_status=tuple(_replica(r) for r in replicas),
        generation=row["generation"],
        observed_generation=row["observed_generation"],
        trusted_types=tuple(row["trusted_types"]),
        serving_trusted_types=tuple(row["serving_trusted_types"]),
    )


def _revision(row: asyncpg.Record) -> Revision:
    return Revision(
        number=row["revision"],
        model_reference=row["model_reference"],
        version_reference=row["version_reference"],
        actor=row["actor"],
        reason=row["reason"],
        created_at=row["created_at"],
        trusted_types=tuple(row["trusted_types"]),
    )


async def _changed(conn: Any, name: str, change: str, actor: str, reason: str) -> None:
    """Puts a deployment.changed event in the outbox: ``change`` and what the deployment's row holds now."""
    await conn.execute(
        "INSERT INTO deploy.outbox (action, project, resource, actor, reason, details) "
        "SELECT 'deployment.changed', project, 'deployment/' || name, $2, $3, jsonb_build_object("
        "'deployment', name, 'change', $4::text, 'revision', revision, 'version', version_reference, "
        "'replicas', replicas, 'runtime', runtime, 'state', state, 'message', status_message) "
        "FROM deploy.deployments WHERE name = $1",
        name,
        actor,
        reason,
        change,
    )


async def _revisions(conn: Any, name: str) -> list[Revision]:
    rows = await conn.fetch("SELECT * FROM deploy.revisions WHERE deployment = $1 ORDER BY revision DESC", name)
    return [_revision(r) for r in rows]


async def _insert_revision(conn: Any, name: str, revision: Revision) -> None:
    await conn.execute(
        "INSERT INTO deploy.revisions (deployment, revision, model_reference, version_reference, actor, reason, "
        "trusted_types) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        name,
        revision.number,
        revision.model_reference,
        revision.version_reference,
        revision.actor,
        revision.reason,
        list(revision.trusted_types),
    )


class PgDeploymentStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def _conn(self) -> AbstractAsyncContextManager[Any]:
        return connection(self._pool)

    async def create(self, deployment: Deployment, revision: Revision) -> Deployment:
        async with self._conn() as conn, conn.transaction():
            try:
                await conn.execute(
                    "INSERT INTO deploy.deployments (name, project, model_reference, version_reference, replicas, "
                    "runtime, state, revision, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    deployment.name,
                    deployment.project,
                    deployment.model_reference,
                    deployment.version_reference,
                    deployment.replicas,
                    deployment.runtime.value,
                    deployment.state.value,
                    revision.number,
                    deployment.created_by,
                )
            except asyncpg.UniqueViolationError:
                raise AlreadyExistsError(f"name: deployment {deployment.name!r} already exists") from None
            await _insert_revision(conn, deployment.name, revision)
            await _changed(conn, deployment.name, "created", revision.actor, revision.reason)
            return await self._get(conn, deployment.name)

    @staticmethod
    async def _get(conn: Any, name: str, lock: bool = False) -> Deployment:
        """Deployment ``name``; ``lock``: locked, and read by a statement started once the lock is
        held. (A READ COMMITTED ``SELECT ... FOR UPDATE`` that waited for another transaction
        returns the locked row as it left it, but joined rows from before it: the serving
        revision's version.)"""
        if lock:
            await conn.execute("SELECT 1 FROM deploy.deployments WHERE name = $1 FOR UPDATE", name)
        row = await conn.fetchrow(f"{_DEPLOYMENT} WHERE d.name = $1", name)
        if row is None:
            raise NotFoundError(f"name: there is no deployment {name!r}")
        return _deployment(row, await conn.fetch(_REPLICAS, name))

    async def get(self, name: str) -> Deployment:
        async with self._conn() as conn:
            return await self._get(conn, name)

    async def page(self, project: str, after: str, limit: int) -> list[Deployment]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"{_DEPLOYMENT} WHERE ($1 = '' OR d.project = $1) AND d.name > $2 ORDER BY d.name LIMIT $3",
                project,
                after,
                limit,
            )
            replicas = await conn.fetch(
                f"SELECT deployment, {_REPLICA_COLUMNS} FROM deploy.replicas "
                "WHERE deployment = ANY($1::text[]) ORDER BY revision, id",
                [r["name"] for r in rows],
            )
        by_name: dict[str, list[asyncpg.Record]] = {}
        for replica in replicas:
            by_name.setdefault(replica["deployment"], []).append(replica)
        return [_deployment(r, by_name.get(r["name"], [])) for r in rows]

    async def names(self) -> list[str]:
        async with self._conn() as conn:
            return [r["name"] for r in await conn.fetch("SELECT name FROM deploy.deployments ORDER BY name")]

    async def revisions(self, name: str) -> list[Revision]:
        async with self._conn() as conn:
            if not await conn.fetchval("SELECT true FROM deploy.deployments WHERE name = $1", name):
                raise NotFoundError(f"name: there is no deployment {name!r}")
            return await _revisions(conn, name)

    @contextlib.asynccontextmanager
    async def locked(self, name: str) -> AsyncIterator[PgLockedDeployment]:
        async with self._conn() as conn, conn.transaction():
            yield PgLockedDeployment(conn, await self._get(conn, name, lock=True))


class PgLockedDeployment:
    """One deployment's row, locked by the transaction of ``conn``."""

    def __init__(self, conn: Any, deployment: Deployment) -> None:
        self._conn, self._deployment = conn, deployment
        self._generation = deployment.generation

    @property
    def deployment(self) -> Deployment:
        return self._deployment

    @property
    def generation(self) -> int:
        return self._generation

    async def _update(self, assignments: str, *values: object) -> None:
        """Changes what the deployment wants: ``assignments`` use $3...; $2 is its new generation."""
        self._generation = self._deployment.generation + 1
        await self._conn.execute(
            f"UPDATE deploy.deployments SET {assignments}, generation = $2, updated_at = now() WHERE name = $1",
            self._deployment.name,
            self._generation,
            *values,
        )

    async def revisions(self) -> list[Revision]:
        return await _revisions(self._conn, self._deployment.name)

    async def add_revision(self, revision: Revision, state: DeploymentState) -> None:
        await _insert_revision(self._conn, self._deployment.name, revision)
        await self._update(
            "revision = $3, model_reference = $4, version_reference = $5, state = $6, status_message = ''",
            revision.number,
            revision.model_reference,
            revision.version_reference,
            state.value,
        )
        await _changed(self._conn, self._deployment.name, "revision", revision.actor, revision.reason)

    async def set_replicas(self, replicas: int, actor: str, reason: str) -> None:
        await self._update("replicas = $3", replicas)
        await _changed(self._conn, self._deployment.name, "scaled", actor, reason)

    async def mark_deleting(self, actor: str) -> None:
        await self._update("state = $3, status_message = ''", DeploymentState.DELETING.value)
        await _changed(self._conn, self._deployment.name, "deleting", actor, "")

    async def save_status(
        self,
        state: DeploymentState,
        message: str,
        serving_revision: int,
        replicas: Sequence[Replica],
        observed_generation: int,
    ) -> None:
        name = self._deployment.name
        conn = self._conn
        await conn.execute(
            "UPDATE deploy.deployments SET state = $2, status_message = $3, serving_revision = $4, "
            "observed_generation = $5, "
            "updated_at = CASE WHEN (state, status_message) = ($2, $3) THEN updated_at ELSE now() END "
            "WHERE name = $1",
            name,
            state.value,
            message,
            serving_revision,
            observed_generation,
        )
        if state is not self._deployment.state:
            await _changed(conn, name, "state", SERVICE_ACTOR, message)
        await conn.execute(
            "DELETE FROM deploy.replicas WHERE deployment = $1 AND NOT id = ANY($2::text[])",
            name,
            [r.id for r in replicas],
        )
        await conn.executemany(
            "INSERT INTO deploy.replicas (deployment, id, revision, state, since, endpoint, restarts, failures, "
            "message, pid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (deployment, id) DO "
            "UPDATE SET revision = excluded.revision, state = excluded.state, since = excluded.since, "
            "endpoint = excluded.endpoint, restarts = excluded.restarts, failures = excluded.failures, "
            "message = excluded.message, pid = excluded.pid",
            [
                (name, r.id, r.revision, r.state.value, r.since, r.endpoint, r.restarts, r.failures, r.message, r.pid)
                for r in replicas
            ],
        )

    async def delete(self) -> None:
        await _changed(self._conn, self._deployment.name, "deleted", SERVICE_ACTOR, "")
        await self._conn.execute("DELETE FROM deploy.deployments WHERE name = $1", self._deployment.name)
