"""ClaimScoringRuns is set-based: the metadata service's claim takes as many statements for two
due tests and two queued runs as for twenty of each (counted by asyncpg's query logger on the
real use case over a real database holding the metadata schema), and still queues one run per
tick, leases the queued runs and ends the unscorable ones in ERROR."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from modelyard_common.embedded import EmbeddedPostgres
from modelyard_common.migrations import migrate
from modelyard_metadata.api.wire import ProtoWire
from modelyard_metadata.domain.datasets import Datasets
from modelyard_metadata.domain.entities import Caller
from modelyard_metadata.domain.guard import Guard
from modelyard_metadata.domain.scoring import ScoringTests
from modelyard_metadata.domain.scoring_entities import RunState
from modelyard_metadata.domain.scoring_runs import ScoringRuns
from modelyard_metadata.storage.datasets import PgDatasetStore
from modelyard_metadata.storage.postgres import PgStore, init_connection
from modelyard_metadata.storage.scoring import PgScoringStore

DEFINITION = {
    "task": "CLASSIFICATION",
    "inputs": [{"input": "features", "columns": ["a"]}],
    "label_column": "label",
    "prediction_output": "",
    "probability_output": "",
    "metrics": ["accuracy"],
    "average": "",
    "positive_label": "",
    "thresholds": [],
}


@dataclass
class Statements:
    """The statements the pool's connections ran while ``counting``."""

    counting: bool = False
    seen: list[str] = field(default_factory=list)

    def log(self, record: Any) -> None:
        if self.counting:
            self.seen.append(record.query)


@dataclass(frozen=True)
class Claiming:
    pool: asyncpg.Pool
    runs: ScoringRuns
    statements: Statements


@pytest.fixture(scope="module")
async def claiming(postgres: EmbeddedPostgres) -> AsyncIterator[Claiming]:
    statements = Statements()

    async def init(conn: asyncpg.Connection) -> None:
        await init_connection(conn)
        conn.add_query_logger(statements.log)

    # One connection: asyncpg reads the types of a statement's parameters once per connection.
    pool = await asyncpg.create_pool(
        postgres.create_database(f"claims_{uuid.uuid4().hex}"), init=init, min_size=1, max_size=1
    )
    async with pool.acquire() as conn:
        await migrate(conn, "modelyard_metadata.migrations")
    store, scoring = PgStore(pool, ProtoWire()), PgScoringStore(pool, None)
    guard = Guard(store)
    tests = ScoringTests(scoring, store, guard, Datasets(PgDatasetStore(pool), guard))
    yield Claiming(pool, ScoringRuns(scoring, store, guard, tests), statements)
    await pool.close()


async def _seed(conn: asyncpg.Connection, count: int) -> tuple[list[str], list[str], str]:
    """A project whose model has a READY version 1 and a definition, ``count`` tests due on a
    minutely schedule, ``count`` queued runs of version 1, and one of an alias that does not
    exist; returns the due tests, the queued runs and the alias run."""
    project = f"p{uuid.uuid4().hex[:8]}"
    project_id = await conn.fetchval("INSERT INTO projects (name) VALUES ($1) RETURNING id", project)
    model_id = await conn.fetchval(
        "INSERT INTO models (project_id, project, name, kind) VALUES ($1, $2, 'm', 'STANDARD') RETURNING id",
        project_id,
        project,
    )
    version_id = await conn.fetchval(
        "INSERT INTO model_versions (model_id, project, model, version, stage, status) "
        "VALUES ($1, $2, 'm', 1, 'DEVELOPMENT', 'READY') RETURNING id",
        model_id,
        project,
    )
    await conn.execute(
        "INSERT INTO score_definitions (model_id, definition, updated_by) VALUES ($1, $2, 'tester')",
        model_id,
        DEFINITION,
    )
    due = datetime.now(UTC) - timedelta(minutes=5)

    async def test(name: str, version: int | None, alias: str | None, schedule: str) -> str:
        test_id = str(uuid.uuid4())
        await conn.execute(
            "INSERT INTO scoring_tests (id, model_id, project, model, name, target_version, target_alias, dataset, "
            "schedule, next_run_at, created_by) VALUES ($1, $2, $3, 'm', $4, $5, $6, 'p/d:1', $7, $8, 'tester')",
            test_id,
            model_id,
            project,
            name,
            version,
            alias,
            schedule,
            due if schedule else None,
        )
        return test_id

    async def queue(test_id: str, version: int | None) -> str:
        run_id = str(uuid.uuid4())
        await conn.execute(
            "INSERT INTO scoring_runs (id, test_id, test_name, model_id, project, version_id, target_alias, dataset, "
            "state, trigger, requested_by) "
            "SELECT $1, t.id, t.name, t.model_id, t.project, $2, t.target_alias, t.dataset, 'QUEUED', 'manual', 'x' "
            "FROM scoring_tests t WHERE t.id = $3",
            run_id,
            version,
            test_id,
        )
        return run_id

    scheduled = [await test(f"due-{n}", 1, None, "* * * * *") for n in range(count)]
    manual = await test("manual", 1, None, "")
    queued = [await queue(manual, version_id) for _ in range(count)]
    lost = await queue(await test("by-alias", None, "missing", ""), None)
    return scheduled, queued, lost


async def _claim(claiming: Claiming, count: int) -> int:
    """Seeds ``count`` of each, claims every open run, checks what it did; the statements it took."""
    async with claiming.pool.acquire() as conn:
        scheduled, queued, lost = await _seed(conn, count)
    claiming.statements.seen.clear()
    started = datetime.now(UTC)
    claiming.statements.counting = True
    try:
        claimed = await claiming.runs.claim(Caller("modelyard-deploy"), "deploy-a", 100, 60)
    finally:
        claiming.statements.counting = False
    taken = len(claiming.statements.seen)
    by_test = {c.run.test_id: c for c in claimed}
    assert {c.run.id for c in claimed} >= set(queued)
    for test_id in scheduled:
        leased = by_test[test_id]
        assert (leased.run.trigger.value, leased.run.state, leased.attempt) == ("schedule", RunState.RUNNING, 1)
        assert leased.run.scheduled_for is not None and leased.run.version == 1
    assert all(c.run.runner == "deploy-a" and c.definition.label_column == "label" for c in claimed)
    errored = await claiming.runs.get(Caller("tester"), lost)
    assert (errored.state, errored.message) == (RunState.ERROR, f"model '{errored.project}/m' has no alias 'missing'")
    async with claiming.pool.acquire() as conn:
        next_ticks = await conn.fetch("SELECT next_run_at FROM scoring_tests WHERE id = ANY($1::uuid[])", scheduled)
        events = await conn.fetchval(
            "SELECT count(*) FROM audit_events WHERE action = 'scoring_test.error' AND after ->> 'run' = $1", lost
        )
    assert all(row["next_run_at"] > started for row in next_ticks)
    assert events == 1
    return taken


async def test_a_claim_takes_as_many_statements_for_twenty_tests_and_runs_as_for_two(claiming: Claiming) -> None:
    await _claim(claiming, 1)  # the connection reads the types of the statements' parameters
    few = await _claim(claiming, 2)
    many = await _claim(claiming, 20)
    assert many == few, claiming.statements.seen
    assert few <= 12, claiming.statements.seen
