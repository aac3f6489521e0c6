"""Score definitions, scoring tests and their runs in Postgres (migration 0008_scoring).

Runs queued by events (a version READY, an alias set) are inserted by the audit log's trigger, in
the transaction of the change; the scheduler's and the leases' statements skip the rows another
transaction holds (FOR UPDATE SKIP LOCKED), so two replicas calling at once never take one run
or one tick twice. What ClaimScoringRuns does to many tests or runs, each statement here does to
all of them at once (arrays unnested), so that a claim takes a few statements whatever its size.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import asyncpg

from modelyard_common.errors import AlreadyExistsError, NotFoundError
from modelyard_common.postgres import connection
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.entities import ModelVersion, Stage
from modelyard_metadata.domain.scoring_entities import (
    OpenRun,
    RunEnding,
    RunState,
    ScoreDefinition,
    ScoreInput,
    ScoreTask,
    ScoreThreshold,
    ScoringRun,
    ScoringTest,
    Target,
    Tick,
    Trigger,
)
from modelyard_metadata.storage.cache import VersionCache
from modelyard_metadata.storage.rows import Row, json_text, metric_from_json, metric_to_json
from modelyard_metadata.storage.transaction import PgTransaction, committed

__all__ = ["PgScoringStore"]

_RUN = """
    SELECT r.*, m.name AS model, v.version AS version FROM scoring_runs r
    JOIN models m ON m.id = r.model_id LEFT JOIN model_versions v ON v.id = r.version_id"""
# _RUN over the rows an UPDATE ... RETURNING r.* named ``changed`` hands back (as it left them).
_CHANGED_RUNS = _RUN.replace("FROM scoring_runs r", "FROM changed r")

# Queues a run of each test of ``queued`` (test_id, version_id, trigger, scheduled_for,
# requested_by): of version_id, else of the test's version number, else resolved when leased.
# A run for a tick that has one already is not queued (the unique index scoring_runs_tick).
_QUEUE = """
    INSERT INTO scoring_runs (id, test_id, test_name, model_id, project, version_id, target_alias, dataset,
                              state, trigger, scheduled_for, requested_by)
    SELECT gen_random_uuid(), t.id, t.name, t.model_id, t.project,
           coalesce(q.version_id, (SELECT v.id FROM model_versions v
                                   WHERE v.model_id = t.model_id AND v.version = t.target_version)),
           t.target_alias, t.dataset, 'QUEUED', q.trigger, q.scheduled_for, q.requested_by
    FROM queued q JOIN scoring_tests t ON t.id = q.test_id
    ON CONFLICT DO NOTHING RETURNING id"""

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
        trusted_types=tuple(row["trusted_types"]),
    )


async def _tests(conn: Any, where: str, *args: Any) -> list[ScoringTest]:
    rows = await conn.fetch(f"{_TEST} WHERE {where} ORDER BY t.project, t.model, t.name", *args)
    last_ids = [row["r_id"] for row in rows if row["r_id"] is not None]
    runs = {r["id"]: _run(r) for r in await conn.fetch(f"{_RUN} WHERE r.id = ANY($1)", last_ids)} if last_ids else {}
    return [_test(row, runs.get(row["r_id"])) for row in rows]


async def _one_run(conn: Any, run_id: str) -> ScoringRun | None:
    row = await conn.fetchrow(f"{_RUN} WHERE r.id = $1", run_id)
    return None if row is None else _run(row)


def _in_order(ids: Sequence[str], rows: Sequence[Row]) -> list[ScoringRun]:
    """The runs of ``rows`` in the order of ``ids``."""
    runs = {str(row["id"]): _run(row) for row in rows}
    return [runs[run_id] for run_id in ids]


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
        return (await self.definitions([model_id])).get(model_id)

    async def definitions(self, model_ids: Collection[int]) -> dict[int, ScoreDefinition]:
        if not model_ids:
            return {}
        rows = await self._conn.fetch(
            "SELECT d.*, m.project, m.name FROM score_definitions d JOIN models m ON m.id = d.model_id "
            "WHERE d.model_id = ANY($1::bigint[])",
            list(model_ids),
        )
        return {row["model_id"]: _definition(row) for row in rows}

    async def insert_test(self, test: ScoringTest) -> ScoringTest:
        try:
            await self._conn.execute(
                """INSERT INTO scoring_tests (id, model_id, project, model, name, target_version, target_alias,
                       every_new_version, dataset, schedule, next_run_at, active, required_for, description, created_by,
                       created_at, trusted_types)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)""",
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
                list(test.trusted_types),
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
    ) -> ScoringRun | None:
        run_id = await self._conn.fetchval(
            f"""WITH queued AS (SELECT $1::uuid AS test_id, $2::bigint AS version_id, $3::text AS trigger,
                                       NULL::timestamptz AS scheduled_for, $4::text AS requested_by)
                {_QUEUE}""",
            test.id,
            version.id if version else None,
            trigger.value,
            requested_by,
        )
        return None if run_id is None else await _one_run(self._conn, run_id)

    async def lock_due_tests(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        rows = await self._conn.fetch(
            """SELECT id, schedule FROM scoring_tests WHERE active AND next_run_at <= $1
               ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
            now,
            limit,
        )
        return [(str(row["id"]), row["schedule"]) for row in rows]

    async def queue_ticks(self, ticks: Sequence[Tick], requested_by: str) -> None:
        if not ticks:
            return
        await self._conn.execute(
            f"""WITH due AS (SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[])
                             AS d(test_id, tick, next_tick)),
                     advanced AS (UPDATE scoring_tests t SET next_run_at = d.next_tick
                                  FROM due d WHERE t.id = d.test_id),
                     queued AS (SELECT test_id, NULL::bigint AS version_id, 'schedule' AS trigger,
                                       tick AS scheduled_for, $4::text AS requested_by FROM due)
                {_QUEUE}""",
            [t.test_id for t in ticks],
            [t.tick for t in ticks],
            [t.next_tick for t in ticks],
            requested_by,
        )

    async def lock_open_runs(self, limit: int) -> list[OpenRun]:
        rows = await self._conn.fetch(
            f"""WITH open AS (SELECT id FROM scoring_runs
                              WHERE state = 'QUEUED' OR (state = 'RUNNING' AND lease_until < now())
                              ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
                SELECT o.*, t.trusted_types FROM ({_RUN} WHERE r.id IN (SELECT id FROM open)) o
                LEFT JOIN scoring_tests t ON t.id = o.test_id ORDER BY o.created_at, o.id""",
            limit,
        )
        return [
            OpenRun(_run(row), row["model_id"], row["target_alias"], tuple(row["trusted_types"] or ())) for row in rows
        ]

    async def start_runs(
        self, starts: Sequence[tuple[str, int]], runner: str, lease_seconds: float
    ) -> list[ScoringRun]:
        if not starts:
            return []
        ids = [run_id for run_id, _ in starts]
        rows = await self._conn.fetch(
            f"""WITH s AS (SELECT * FROM unnest($1::uuid[], $2::bigint[]) AS s(id, version_id)),
                     changed AS (
                       UPDATE scoring_runs r SET state = 'RUNNING', runner = $3, attempt = r.attempt + 1,
                              version_id = s.version_id, lease_until = now() + make_interval(secs => $4),
                              started_at = coalesce(r.started_at, now())
                       FROM s WHERE r.id = s.id RETURNING r.*)
                {_CHANGED_RUNS}""",
            ids,
            [version_id for _, version_id in starts],
            runner,
            lease_seconds,
        )
        return _in_order(ids, rows)

    async def lock_run(self, run_id: str) -> ScoringRun | None:
        found = await self._conn.fetchval("SELECT id FROM scoring_runs WHERE id = $1 FOR UPDATE", run_id)
        return None if found is None else await _one_run(self._conn, run_id)

    async def finish_runs(self, endings: Sequence[RunEnding]) -> list[ScoringRun]:
        if not endings:
            return []
        ids = [e.run_id for e in endings]
        rows = await self._conn.fetch(
            f"""WITH e AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                                                $6::float8[]) AS e(id, state, message, metrics, rows, seconds)),
                     changed AS (
                       UPDATE scoring_runs r SET state = e.state, message = e.message, metrics = e.metrics::jsonb,
                              rows = e.rows, duration_seconds = e.seconds, finished_at = now(), lease_until = NULL
                       FROM e WHERE r.id = e.id RETURNING r.*)
                {_CHANGED_RUNS}""",
            ids,
            [e.state.value for e in endings],
            [e.message for e in endings],
            [json_text([{"name": m.name} | metric_to_json(m) for m in e.metrics]) for e in endings],
            [e.rows for e in endings],
            [e.duration_seconds for e in endings],
        )
        return _in_order(ids, rows)


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
        self,
        test_id: str | None,
        version_id: int | None,
        state: RunState | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[ScoringRun]:
        filters = {"r.test_id": test_id, "r.version_id": version_id, "r.state": state and state.value}
        given = {column: value for column, value in filters.items() if value is not None}
        where = [f"{column} = ${i}" for i, column in enumerate(given, start=2)]
        args: list[Any] = [limit, *given.values()]
        if before is not None:
            where.append(f"(r.created_at, r.id) < (${len(args) + 1}, ${len(args) + 2}::uuid)")
            args += before
        async with connection(self._pool) as conn:
            rows = await conn.fetch(
                f"{_RUN} WHERE {' AND '.join(where)} ORDER BY r.created_at DESC, r.id DESC LIMIT $1", *args
            )
        return [_run(row) for row in rows]
