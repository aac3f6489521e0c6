"""Score definitions, scoring tests and their runs in Postgres (migration 0008_scoring).

Runs queued by events (a version READY, an alias set) are inserted by the audit log's trigger, in
the transaction of the change; the scheduler's and the leases' statements skip the rows another
transaction holds (FOR UPDATE SKIP LOCKED), so two replicas calling at once never take one run
or one tick twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import asyncpg

from modelyard_common.errors import AlreadyExistsError, NotFoundError
from modelyard_common.postgres import connection
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.entities import MetricPoint, ModelVersion, Stage
from modelyard_metadata.domain.scoring_entities import (
    RunState,
    ScoreDefinition,
    ScoreInput,
    ScoreTask,
    ScoreThreshold,
    ScoringRun,
    ScoringTest,
    Target,
    Trigger,
)
from modelyard_metadata.storage.cache import VersionCache
from modelyard_metadata.storage.rows import Row, metric_from_json, metric_to_json
from modelyard_metadata.storage.transaction import PgTransaction, committed

__all__ = ["PgScoringStore"]

_RUN = """
    SELECT r.*, m.name AS model, v.version AS version FROM scoring_runs r
    JOIN models m ON m.id = r.model_id LEFT JOIN model_versions v ON v.id = r.version_id"""

_TEST = """
    SELECT t.*, r.id AS r_id FROM scoring_tests t
    LEFT JOIN LATERAL (SELECT id FROM scoring_runs WHERE test_id = t.id ORDER BY created_at DESC, id DESC LIMIT 1) r
      ON true"""


def _definition(row: Row) -> ScoreDefinition:
    data = row["definition"]
    return ScoreDefinition(
        model=f"{row['project']}/{row['name']}",
        task=ScoreTask(data["task"]),
        inputs=tuple(ScoreInput(i["input"], tuple(i["columns"])) for i in data["inputs"]),
        label_column=data["label_column"],
        prediction_output=data["prediction_output"],
        probability_output=data["probability_output"],
        metrics=tuple(data["metrics"]),
        average=data["average"],
        positive_label=data["positive_label"],
        thresholds=tuple(ScoreThreshold(t["metric"], t["min"], t["max"]) for t in data["thresholds"]),
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
    )


def _run(row: Row) -> ScoringRun:
    return ScoringRun(
        id=str(row["id"]),
        test_id=str(row["test_id"]),
        test_name=row["test_name"],
        project=row["project"],
        model=row["model"],
        version=row["version"],
        dataset=row["dataset"],
        state=RunState(row["state"]),
        trigger=Trigger(row["trigger"]),
        requested_by=row["requested_by"],
        created_at=row["created_at"],
        scheduled_for=row["scheduled_for"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        rows=row["rows"],
        duration_seconds=row["duration_seconds"],
        metrics=tuple(metric_from_json(m["name"], m) for m in row["metrics"]),
        message=row["message"],
        runner=row["runner"],
        attempt=row["attempt"],
        lease_until=row["lease_until"],
    )


def _test(row: Row, last_run: ScoringRun | None) -> ScoringTest:
    return ScoringTest(
        id=str(row["id"]),
        model_id=row["model_id"],
        project=row["project"],
        model=row["model"],
        name=row["name"],
        target=Target(row["target_version"], row["target_alias"], row["every_new_version"]),
        dataset=row["dataset"],
        schedule=row["schedule"],
        active=row["active"],
        required_for=tuple(Stage(s) for s in row["required_for"]),
        description=row["description"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        next_run_at=row["next_run_at"],
        last_run=last_run,
    )


async def _tests(conn: Any, where: str, *args: Any) -> list[ScoringTest]:
    rows = await conn.fetch(f"{_TEST} WHERE {where} ORDER BY t.project, t.model, t.name", *args)
    last_ids = [row["r_id"] for row in rows if row["r_id"] is not None]
    runs = {r["id"]: _run(r) for r in await conn.fetch(f"{_RUN} WHERE r.id = ANY($1)", last_ids)} if last_ids else {}
    return [_test(row, runs.get(row["r_id"])) for row in rows]


async def _one_run(conn: Any, run_id: str) -> ScoringRun | None:
    row = await conn.fetchrow(f"{_RUN} WHERE r.id = $1", run_id)
    return None if row is None else _run(row)


class PgScoringTransaction(PgTransaction):
    """Implements ScoringTransaction: the metadata transaction plus scoring's rows."""

    async def set_definition(self, model_id: int, definition: ScoreDefinition) -> ScoreDefinition:
        data = {k: v for k, v in snapshot(definition).items() if k not in ("model", "updated_by", "updated_at")}
        await self._conn.execute(
            """INSERT INTO score_definitions (model_id, definition, updated_by) VALUES ($1, $2, $3)
               ON CONFLICT (model_id) DO UPDATE SET definition = $2, updated_by = $3, updated_at = now()""",
            model_id,
            data,
            definition.updated_by,
        )
        found = await self.definition(model_id)
        assert found is not None  # just written
        return found

    async def definition(self, model_id: int) -> ScoreDefinition | None:
        row = await self._conn.fetchrow(
            "SELECT d.*, m.project, m.name FROM score_definitions d JOIN models m ON m.id = d.model_id "
            "WHERE d.model_id = $1",
            model_id,
        )
        return None if row is None else _definition(row)

    async def insert_test(self, test: ScoringTest) -> ScoringTest:
        try:
            await self._conn.execute(
                """INSERT INTO scoring_tests (id, model_id, project, model, name, target_version, target_alias,
                       every_new_version, dataset, schedule, next_run_at, active, required_for, description, created_by,
                       created_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)""",
                test.id,
                test.model_id,
                test.project,
                test.model,
                test.name,
                test.target.version,
                test.target.alias,
                test.target.every_new_version,
                test.dataset,
                test.schedule,
                test.next_run_at,
                test.active,
                [stage.value for stage in test.required_for],
                test.description,
                test.created_by,
                test.created_at,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExistsError(
                f"model '{test.project}/{test.model}' has a scoring test named {test.name!r} already"
            ) from None
        return await self._read_test(test.id)

    async def _read_test(self, test_id: str) -> ScoringTest:
        found = await _tests(self._conn, "t.id = $1", test_id)
        if not found:
            raise NotFoundError(f"scoring test {test_id!r} does not exist")
        return found[0]

    async def lock_test(self, test_id: str) -> ScoringTest | None:
        found = await self._conn.fetchval("SELECT id FROM scoring_tests WHERE id = $1 FOR UPDATE", test_id)
        return None if found is None else await self._read_test(test_id)

    async def update_test(self, test_id: str, changes: Mapping[str, Any]) -> ScoringTest:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
        await self._conn.execute(f"UPDATE scoring_tests SET {sets} WHERE id = $1", test_id, *changes.values())
        return await self._read_test(test_id)

    async def delete_test(self, test_id: str) -> None:
        await self._conn.execute("DELETE FROM scoring_tests WHERE id = $1", test_id)

    async def queue_run(
        self,
        test: ScoringTest,
        version: ModelVersion | None,
        trigger: Trigger,
        requested_by: str,
        scheduled_for: datetime | None = None,
    ) -> ScoringRun | None:
        run_id = await self._conn.fetchval(
            """INSERT INTO scoring_runs (id, test_id, test_name, model_id, project, version_id, target_alias, dataset,
                   state, trigger, scheduled_for, requested_by)
               SELECT gen_random_uuid(), t.id, t.name, t.model_id, t.project,
                      coalesce($2, (SELECT v.id FROM model_versions v
                                    WHERE v.model_id = t.model_id AND v.version = t.target_version)),
                      t.target_alias, t.dataset, 'QUEUED', $3, $4, $5
               FROM scoring_tests t WHERE t.id = $1
               ON CONFLICT DO NOTHING RETURNING id""",
            test.id,
            version.id if version else None,
            trigger.value,
            scheduled_for,
            requested_by,
        )
        return None if run_id is None else await _one_run(self._conn, run_id)

    async def lock_due_tests(self, now: datetime, limit: int) -> list[ScoringTest]:
        ids = await self._conn.fetch(
            """SELECT id FROM scoring_tests WHERE active AND next_run_at <= $1
               ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
            now,
            limit,
        )
        return await _tests(self._conn, "t.id = ANY($1)", [row["id"] for row in ids]) if ids else []

    async def lock_open_runs(self, limit: int) -> list[tuple[ScoringRun, int, str | None]]:
        rows = await self._conn.fetch(
            f"""WITH open AS (SELECT id FROM scoring_runs
                              WHERE state = 'QUEUED' OR (state = 'RUNNING' AND lease_until < now())
                              ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
                {_RUN} WHERE r.id IN (SELECT id FROM open) ORDER BY r.created_at, r.id""",
            limit,
        )
        return [(_run(row), row["model_id"], row["target_alias"]) for row in rows]

    async def start_run(self, run_id: str, runner: str, lease_seconds: float, version_id: int) -> ScoringRun:
        await self._conn.execute(
            """UPDATE scoring_runs SET state = 'RUNNING', runner = $2, attempt = attempt + 1, version_id = $4,
                      lease_until = now() + make_interval(secs => $3), started_at = coalesce(started_at, now())
               WHERE id = $1""",
            run_id,
            runner,
            lease_seconds,
            version_id,
        )
        return await self._run_now(run_id)

    async def lock_run(self, run_id: str) -> ScoringRun | None:
        found = await self._conn.fetchval("SELECT id FROM scoring_runs WHERE id = $1 FOR UPDATE", run_id)
        return None if found is None else await self._run_now(run_id)

    async def finish_run(
        self,
        run_id: str,
        state: RunState,
        message: str,
        metrics: Sequence[MetricPoint] = (),
        rows: int = 0,
        duration_seconds: float = 0.0,
    ) -> ScoringRun:
        await self._conn.execute(
            """UPDATE scoring_runs SET state = $2, message = $3, metrics = $4, rows = $5, duration_seconds = $6,
                      finished_at = now(), lease_until = NULL
               WHERE id = $1""",
            run_id,
            state.value,
            message,
            [{"name": m.name} | metric_to_json(m) for m in metrics],
            rows,
            duration_seconds,
        )
        return await self._run_now(run_id)

    async def _run_now(self, run_id: str) -> ScoringRun:
        found = await _one_run(self._conn, run_id)
        assert found is not None  # locked by this transaction
        return found


class PgScoringStore:
    """Implements ScoringStore over the metadata service's pool."""

    def __init__(self, pool: asyncpg.Pool, cache: VersionCache | None) -> None:
        self._pool = pool
        self._cache = cache

    def transaction(self) -> AbstractAsyncContextManager[PgScoringTransaction]:
        return committed(self._pool, self._cache, PgScoringTransaction)

    async def get_definition(self, model_id: int) -> ScoreDefinition | None:
        async with connection(self._pool) as conn:
            return await PgScoringTransaction(conn).definition(model_id)

    async def get_test(self, test_id: str) -> ScoringTest | None:
        async with connection(self._pool) as conn:
            found = await _tests(conn, "t.id = $1", test_id)
        return found[0] if found else None

    async def list_tests(self, project: str, model: str | None) -> list[ScoringTest]:
        async with connection(self._pool) as conn:
            if model is None:
                return await _tests(conn, "t.project = $1", project)
            return await _tests(conn, "t.project = $1 AND t.model = $2", project, model)

    async def get_run(self, run_id: str) -> ScoringRun | None:
        async with connection(self._pool) as conn:
            return await _one_run(conn, run_id)

    async def list_runs(
        self, test_id: str | None, version_id: int | None, before: tuple[datetime, str] | None, limit: int
    ) -> list[ScoringRun]:
        column, value = ("r.test_id", test_id) if test_id is not None else ("r.version_id", version_id)
        after = "" if before is None else " AND (r.created_at, r.id) < ($3, $4::uuid)"
        async with connection(self._pool) as conn:
            rows = await conn.fetch(
                f"{_RUN} WHERE {column} = $1{after} ORDER BY r.created_at DESC, r.id DESC LIMIT $2",
                value,
                limit,
                *(before or ()),
            )
        return [_run(row) for row in rows]
