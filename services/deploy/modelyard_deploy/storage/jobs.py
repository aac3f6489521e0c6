"""Batch scoring jobs in the deploy schema (``deploy.jobs``, ``job_chunks``; their events go to ``outbox``).
A job's progress is counted from its finished chunks, in the statement that reads it."""

from __future__ import annotations

import json
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

from modelyard_common.errors import FailedPreconditionError, NotFoundError
from modelyard_common.postgres import connection
from modelyard_deploy.domain.job_entities import Job, JobInput, JobState
from modelyard_deploy.storage.postgres import SERVICE_ACTOR

__all__ = ["PgJobStore"]

_JOB = (
    "SELECT j.*, coalesce(c.chunks, 0) AS chunks_done, coalesce(c.rows, 0) AS rows_done FROM deploy.jobs j "
    "LEFT JOIN LATERAL (SELECT count(*) AS chunks, sum(rows) AS rows FROM deploy.job_chunks WHERE job = j.id) c ON true"
)
_UNFINISHED = (JobState.QUEUED.value, JobState.RUNNING.value, JobState.CANCELLING.value)
# The states a job may finish as each final state from: SUCCEEDED only from RUNNING (a CANCELLING
# job has no output registered: the registration begins only while it is RUNNING), CANCELLED only
# once a cancel was asked for.
_FINISHED_FROM = {
    JobState.SUCCEEDED: (JobState.RUNNING.value,),
    JobState.FAILED: _UNFINISHED,
    JobState.CANCELLED: (JobState.CANCELLING.value,),
}


def _job(row: asyncpg.Record) -> Job:
    inputs = json.loads(row["inputs"])
    return Job(
        id=row["id"],
        project=row["project"],
        model_reference=row["model_reference"],
        version_reference=row["version_reference"],
        input_dataset=row["input_dataset"],
        key_column=row["key_column"],
        inputs=tuple(JobInput(i["name"], tuple(i["columns"])) for i in inputs),
        input_dtypes=tuple(i["datatype"] for i in inputs),
        trusted_types=tuple(row["trusted_types"]),
        output_dataset=row["output_dataset"],
        chunk_rows=row["chunk_rows"],
        workers=row["workers"],
        state=JobState(row["state"]),
        chunks_total=row["chunks_total"],
        rows_total=row["rows_total"],
        chunks_done=row["chunks_done"],
        rows_done=int(row["rows_done"]),
        output_version=row["output_version"],
        error=row["error"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


async def _event(conn: Any, job_id: str, action: str, actor: str, reason: str = "") -> None:
    """Puts the job's event in the outbox (migration 0005), with the job as its row holds it now:
    the leader forwards it to the audit log, where webhooks pick up job.finished."""
    await conn.execute(
        "INSERT INTO deploy.outbox (action, project, resource, actor, reason, details) "
        "SELECT $2, j.project, 'job/' || j.id, $3, $4, jsonb_build_object('job', j.id, 'state', j.state, "
        "'version', j.version_reference, 'input', j.input_dataset, 'output', j.output_dataset, "
        "'output_version', j.output_version, 'rows_done', "
        "(SELECT coalesce(sum(c.rows), 0) FROM deploy.job_chunks c WHERE c.job = j.id), 'error', j.error) "
        "FROM deploy.jobs j WHERE j.id = $1",
        job_id,
        action,
        actor,
        reason,
    )


class PgJobStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def _conn(self) -> AbstractAsyncContextManager[Any]:
        return connection(self._pool)

    @staticmethod
    async def _get(conn: Any, job_id: str) -> Job:
        row = await conn.fetchrow(f"{_JOB} WHERE j.id = $1", job_id)
        if row is None:
            raise NotFoundError(f"id: job {job_id!r} does not exist")
        return _job(row)

    async def create(self, job: Job) -> Job:
        inputs = [
            {"name": i.name, "columns": list(i.columns), "datatype": d}
            for i, d in zip(job.inputs, job.input_dtypes, strict=True)
        ]
        async with self._conn() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO deploy.jobs (id, project, model_reference, version_reference, input_dataset, key_column, "
                "inputs, output_dataset, chunk_rows, workers, state, chunks_total, rows_total, created_by, "
                "trusted_types) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                job.id,
                job.project,
                job.model_reference,
                job.version_reference,
                job.input_dataset,
                job.key_column,
                json.dumps(inputs),
                job.output_dataset,
                job.chunk_rows,
                job.workers,
                job.state.value,
                job.chunks_total,
                job.rows_total,
                job.created_by,
                list(job.trusted_types),
            )
            await _event(conn, job.id, "job.created", job.created_by)
            return await self._get(conn, job.id)

    async def get(self, job_id: str) -> Job:
        async with self._conn() as conn:
            return await self._get(conn, job_id)

    async def page(self, project: str, before: int, limit: int) -> list[tuple[Job, int]]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"{_JOB} WHERE j.project = $1 AND j.seq < $2 ORDER BY j.seq DESC LIMIT $3", project, before, limit
            )
        return [(_job(row), row["seq"]) for row in rows]

    async def cancel(self, job_id: str, actor: str, reason: str) -> Job:
        async with self._conn() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT state, publishing_at FROM deploy.jobs WHERE id = $1 FOR UPDATE", job_id)
            if row is None:
                raise NotFoundError(f"id: job {job_id!r} does not exist")
            state = JobState(row["state"])
            if state.finished:
                raise FailedPreconditionError(f"id: job {job_id} is {state}; only a queued or running job is cancelled")
            if row["publishing_at"] is not None:
                raise FailedPreconditionError(
                    f"id: job {job_id} has scored every row and is registering its output version; it is no longer "
                    "cancelled (it ends SUCCEEDED: delete what you do not want of its output)"
                )
            if state is not JobState.CANCELLING:
                await conn.execute(
                    "UPDATE deploy.jobs SET state = $2, updated_at = now() WHERE id = $1",
                    job_id,
                    JobState.CANCELLING.value,
                )
                await _event(conn, job_id, "job.cancelled", actor, reason)
            return await self._get(conn, job_id)

    async def unfinished(self) -> list[Job]:
        async with self._conn() as conn:
            rows = await conn.fetch(f"{_JOB} WHERE j.state = ANY($1::text[]) ORDER BY j.seq", list(_UNFINISHED))
        return [_job(row) for row in rows]

    async def states(self, job_ids: Collection[str]) -> dict[str, JobState]:
        async with self._conn() as conn:
            rows = await conn.fetch("SELECT id, state FROM deploy.jobs WHERE id = ANY($1::text[])", list(job_ids))
        return {row["id"]: JobState(row["state"]) for row in rows}

    async def start(self, job_id: str) -> Job:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE deploy.jobs SET state = $2, started_at = coalesce(started_at, now()), updated_at = now() "
                "WHERE id = $1 AND state = $3",
                job_id,
                JobState.RUNNING.value,
                JobState.QUEUED.value,
            )
            return await self._get(conn, job_id)

    async def chunks(self, job_id: str) -> dict[int, int]:
        async with self._conn() as conn:
            rows = await conn.fetch("SELECT index, rows FROM deploy.job_chunks WHERE job = $1", job_id)
        return {row["index"]: row["rows"] for row in rows}

    async def forget_chunks(self, job_id: str, indexes: Collection[int]) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "DELETE FROM deploy.job_chunks WHERE job = $1 AND index = ANY($2::bigint[])", job_id, list(indexes)
            )

    async def record_chunk(self, job_id: str, index: int, rows: int) -> None:
        async with self._conn() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO deploy.job_chunks (job, index, rows) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                job_id,
                index,
                rows,
            )
            await conn.execute("UPDATE deploy.jobs SET updated_at = now() WHERE id = $1", job_id)

    async def begin_publish(self, job_id: str) -> bool:
        async with self._conn() as conn:
            marked = await conn.fetchval(
                "UPDATE deploy.jobs SET publishing_at = coalesce(publishing_at, now()), updated_at = now() "
                "WHERE id = $1 AND state = $2 RETURNING true",
                job_id,
                JobState.RUNNING.value,
            )
        return bool(marked)

    async def finish(self, job_id: str, state: JobState, output_version: str = "", error: str = "") -> Job:
        async with self._conn() as conn, conn.transaction():
            finished = await conn.fetchval(
                "UPDATE deploy.jobs SET state = $2, output_version = $3, error = $4, finished_at = now(), "
                "updated_at = now() WHERE id = $1 AND state = ANY($5::text[]) RETURNING true",
                job_id,
                state.value,
                output_version,
                error,
                list(_FINISHED_FROM[state]),
            )
            if finished:  # once: a job finished before keeps its state and its one event
                await _event(
                    conn, job_id, "job.finished", SERVICE_ACTOR, f"{state.value}: {error}" if error else state.value
                )
            return await self._get(conn, job_id)
