"""The cache after a real crash: a metadata replica SIGKILLed at each point of a write leaves no
stale row for another replica sharing its Postgres and Redis to read.

The writer is paused at a point of its write by Postgres itself, seen there, then killed: inside
its transaction by a row lock the test holds; during its COMMIT by synchronous replication to a
standby that does not exist (only the writer's connections ask for it), which keeps a committed
transaction invisible until the test lifts the setting, after the kill."""

from __future__ import annotations

import asyncio
import re
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import asyncpg
import pytest
from replica_processes import until

import modelyard
from modelyard.internal import InternalCalls
from modelyard_common.embedded import EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess

FILE = modelyard.ArtifactFile(path="m", size=1, sha256="1" * 64, storage_key="k", content_type="")
LEASE = 8.0  # the writer's cache_write_lease_seconds
ALIAS = """SELECT v.version FROM aliases a JOIN models m ON m.id = a.model_id
           JOIN model_versions v ON v.id = a.version_id WHERE m.project = $1 AND m.name = $2 AND a.alias = 'best'"""
ACTIVITY = "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE application_name = $1"


def _cache_hits(service: ServiceProcess) -> float:
    text = urllib.request.urlopen(service.metrics_url, timeout=5).read().decode()
    match = re.search(r'^modelyard_metadata_cache_lookups_total{result="hit"} (\S+)$', text, re.M)
    return float(match[1]) if match else 0.0


async def _commits_wait(dsn: str) -> bool:
    """Whether a commit asking for synchronous replication waits for it now (for half a second)."""
    probe = await asyncpg.connect(dsn, command_timeout=0.5, server_settings={"synchronous_commit": "on"})
    try:
        async with probe.transaction():
            await probe.execute("SELECT pg_logical_emit_message(true, 'probe', '')")  # a commit that writes WAL
    except TimeoutError:
        return True
    finally:
        probe.terminate()
    return False


@contextmanager
def _writes_paused(run: asyncio.Runner, dsn: str, crash: str, project: str) -> Iterator[str]:
    """Pauses the writer's next write at ``crash`` until the block ends; yields the event it waits on."""
    conn = run.run(asyncpg.connect(dsn))
    try:
        if crash == "inside-the-transaction":  # its first statement waits for this lock
            lock = conn.transaction()
            run.run(lock.start())
            run.run(conn.execute("SELECT 1 FROM models WHERE project = $1 AND name = 'm' FOR UPDATE", project))
            try:
                yield "Lock"
            finally:
                run.run(lock.rollback())
            return
        for sql in ("ALTER SYSTEM SET synchronous_standby_names = 'nowhere'", "SELECT pg_reload_conf()"):
            run.run(conn.execute(sql))
        try:
            until(lambda: run.run(_commits_wait(dsn)), "commits waiting for a synchronous standby")
            yield "SyncRep"
        finally:
            for sql in ("ALTER SYSTEM RESET synchronous_standby_names", "SELECT pg_reload_conf()"):
                run.run(conn.execute(sql))
    finally:
        run.run(conn.close())


@pytest.mark.parametrize("crash", ["inside-the-transaction", "during-commit", "after-it-returned"])
def test_a_writer_killed_at_any_point_of_a_write_leaves_no_stale_read(
    crash: str,
    metadata_service: ServiceProcess,
    client: modelyard.Client,
    metadata_dsn: str,
    redis_server: EmbeddedRedis,
    start_service: Callable[..., ServiceProcess],
) -> None:
    project = f"k-{uuid.uuid4().hex[:8]}"
    model = f"{project}/m"
    client.create_project(project)
    client.create_model(model)
    for _ in range(2):
        reference = client.create_version(model).reference
        InternalCalls(client).commit_artifact(reference, modelyard.Artifact(files=(FILE,), total_size=1))
    client.set_alias(model, "best", 1)
    # The writer: a replica whose connections are named, and whose commits wait for synchronous
    # replication whenever a synchronous standby is configured.
    name = f"doomed-{uuid.uuid4().hex[:8]}"
    writer = start_service(
        f"{metadata_dsn}?application_name={name}&synchronous_commit=on",
        redis_server.url,
        db_timeout_seconds="5",
        cache_write_lease_seconds=str(LEASE),
    )

    def read() -> int:
        """The alias through the other replica (the session's), which caches it."""
        return client.get_version(f"{model}@best").version

    assert read() == read() == 1  # now cached
    with asyncio.Runner() as run:
        postgres = run.run(asyncpg.connect(metadata_dsn))

        def sessions() -> list[asyncpg.Record]:
            return run.run(postgres.fetch(ACTIVITY, name))

        with modelyard.connect(writer.target, timeout=10) as doomed, ThreadPoolExecutor(1) as pool:
            if crash == "after-it-returned":
                assert doomed.set_alias(model, "best", 2).previous_version == 1
                writer.stop(grace=0)  # SIGKILL
            else:
                with _writes_paused(run, metadata_dsn, crash, project) as event:
                    pool.submit(doomed.set_alias, model, "best", 2)
                    until(lambda: any(event in (s["wait_event_type"], s["wait_event"]) for s in sessions()), event)
                    for _ in range(3):
                        assert read() == 1  # not committed, or not visible yet
                    writer.stop(grace=0)  # SIGKILL, where it waits
            # Its transaction ends (committed or rolled back) once Postgres finds it gone.
            until(lambda: not sessions(), "the killed writer's sessions gone", timeout=30)
        expected = run.run(postgres.fetchval(ALIAS, project, "m"))
        run.run(postgres.close())

    assert expected == (1 if crash == "inside-the-transaction" else 2)
    for _ in range(3):
        assert read() == expected
    # Any mark the dead writer left ends with its lease; then the other replica caches again, still right.
    hits = _cache_hits(metadata_service)

    def cached_again() -> bool:
        assert read() == expected
        return _cache_hits(metadata_service) >= hits + 2

    until(cached_again, "the other replica caching the alias again", timeout=LEASE + 30)
