"""A cancel against a job registering its output, decided in Postgres (the deploy schema's real
job store): a cancel recorded first stops the registration; a registration begun first refuses
the cancel; racing, exactly one of them wins; and a job never finishes SUCCEEDED from
CANCELLING nor CANCELLED from RUNNING."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from modelyard_common.embedded import EmbeddedPostgres
from modelyard_common.errors import FailedPreconditionError
from modelyard_common.migrations import migrate
from modelyard_deploy.domain.job_entities import Job, JobInput, JobState
from modelyard_deploy.storage.jobs import PgJobStore

REGISTERING = "has scored every row and is registering its output version; it is no longer cancelled"


@pytest.fixture(scope="module")
async def store(postgres: EmbeddedPostgres) -> AsyncIterator[PgJobStore]:
    pool = await asyncpg.create_pool(postgres.create_database(f"job_store_{uuid.uuid4().hex}"))
    async with pool.acquire() as conn:
        await migrate(conn, "modelyard_deploy.migrations", schema="deploy")
    yield PgJobStore(pool)
    await pool.close()


async def _running(store: PgJobStore) -> str:
    job = Job(
        id=uuid.uuid4().hex,
        project="p",
        model_reference="p/m",
        version_reference="p/m:1",
        input_dataset="p/d:1",
        key_column="id",
        inputs=(JobInput("input", ("a",)),),
        input_dtypes=("FP64",),
        output_dataset="p/out",
        chunk_rows=10,
        workers=1,
        state=JobState.QUEUED,
        chunks_total=1,
        rows_total=10,
        created_by="tester",
    )
    await store.create(job)
    assert (await store.start(job.id)).state is JobState.RUNNING
    return job.id


async def test_a_cancel_recorded_first_stops_the_registration_and_the_job_ends_cancelled(store: PgJobStore) -> None:
    job_id = await _running(store)
    assert (await store.cancel(job_id, "tester", "wrong model")).state is JobState.CANCELLING

    assert await store.begin_publish(job_id) is False
    assert (await store.finish(job_id, JobState.SUCCEEDED, "p/out:1")).state is JobState.CANCELLING
    cancelled = await store.finish(job_id, JobState.CANCELLED)
    assert (cancelled.state, cancelled.output_version) == (JobState.CANCELLED, "")


async def test_a_registration_begun_first_refuses_the_cancel_and_the_job_ends_succeeded(store: PgJobStore) -> None:
    job_id = await _running(store)
    assert await store.begin_publish(job_id) is True

    with pytest.raises(FailedPreconditionError) as refused:
        await store.cancel(job_id, "tester", "too late")
    assert refused.value.message.startswith(f"id: job {job_id} {REGISTERING}")
    assert (await store.finish(job_id, JobState.CANCELLED)).state is JobState.RUNNING
    succeeded = await store.finish(job_id, JobState.SUCCEEDED, "p/out:1")
    assert (succeeded.state, succeeded.output_version) == (JobState.SUCCEEDED, "p/out:1")


async def test_racing_a_cancel_and_a_registration_exactly_one_wins(store: PgJobStore) -> None:
    async def cancelled(job_id: str) -> bool:
        try:
            await store.cancel(job_id, "tester", "race")
        except FailedPreconditionError:
            return False
        return True

    for job_id in [await _running(store) for _ in range(20)]:
        cancel, publish = await asyncio.gather(cancelled(job_id), store.begin_publish(job_id))
        assert cancel != publish
        state = (await store.get(job_id)).state
        assert state is (JobState.CANCELLING if cancel else JobState.RUNNING)
