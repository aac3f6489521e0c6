"""The embedded stores are real servers: they answer their protocols, restart, and stop for good."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import pytest
import redis
from botocore.config import Config

from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _s3_client(store: EmbeddedSeaweedFS) -> Any:  # boto3 has no type hints
    return boto3.client(
        "s3",
        endpoint_url=store.endpoint,
        aws_access_key_id=store.access_key,
        aws_secret_access_key=store.secret_key,
        region_name=store.region,
        config=Config(s3={"addressing_style": "path"}),
    )


async def test_postgres_answers_sql_over_tcp_on_loopback(postgres: EmbeddedPostgres) -> None:
    assert postgres.dsn == f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    connection = await asyncpg.connect(postgres.dsn)
    try:
        assert await connection.fetchval("SELECT 41 + 1") == 42
        assert await connection.fetchval("SELECT inet_server_addr()::text") == "127.0.0.1/32"
    finally:
        await connection.close()


async def test_create_database_gives_an_isolated_database(postgres: EmbeddedPostgres) -> None:
    first = await asyncpg.connect(postgres.create_database("isolation_first"))
    second = await asyncpg.connect(postgres.create_database("isolation_second"))
    try:
        await first.execute("CREATE TABLE only_here (id int); INSERT INTO only_here VALUES (1)")
        assert await first.fetchval("SELECT current_database()") == "isolation_first"
        assert await second.fetchval("SELECT current_database()") == "isolation_second"
        assert await second.fetchval("SELECT to_regclass('only_here')") is None
    finally:
        await first.close()
        await second.close()


async def test_fresh_database_is_new_and_empty(fresh_database: str, postgres: EmbeddedPostgres) -> None:
    assert fresh_database != postgres.dsn
    connection = await asyncpg.connect(fresh_database)
    try:
        tables = await connection.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        assert tables == 0
    finally:
        await connection.close()


def test_create_database_rejects_an_existing_name(postgres: EmbeddedPostgres) -> None:
    postgres.create_database("taken")
    with pytest.raises(RuntimeError, match="already exists"):
        postgres.create_database("taken")


def test_postgres_stop_ends_its_process_and_frees_its_port(postgres_data_dir: Path) -> None:
    server = EmbeddedPostgres(postgres_data_dir, durable=False)
    with server:
        pid, port = server.pid, server.port
        assert _process_exists(pid)
    assert not _process_exists(pid)
    assert _refuses_connections(port)


def test_redis_sets_and_gets_a_value(redis_server: EmbeddedRedis) -> None:
    with redis.Redis.from_url(redis_server.url) as client:
        client.set("greeting", b"hello")
        assert client.get("greeting") == b"hello"


def test_redis_comes_back_on_the_same_port_after_stop(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        first_pid, port = server.pid, server.port
        server.stop()
        assert not _process_exists(first_pid)
        assert _refuses_connections(port)

        server.start()
        assert server.port == port
        assert server.pid != first_pid
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()
    finally:
        server.stop()


def test_redis_start_fails_with_log_tail_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as blocker:
        server = EmbeddedRedis(tmp_path / "redis", port=blocker.getsockname()[1])
        with pytest.raises(RuntimeError, match=r"exited with code .* while starting; tail of"):
            server.start()


def test_seaweedfs_returns_the_bytes_it_stored(seaweedfs: EmbeddedSeaweedFS) -> None:
    s3 = _s3_client(seaweedfs)
    bucket = f"test-{uuid.uuid4().hex}"
    payload = os.urandom(3 * 1024 * 1024 + 17)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="models/weights.bin", Body=payload)

    stored = s3.get_object(Bucket=bucket, Key="models/weights.bin")["Body"].read()

    assert stored == payload
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_seaweedfs_refuses_writes_into_a_missing_bucket(seaweedfs: EmbeddedSeaweedFS) -> None:
    s3 = _s3_client(seaweedfs)
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.put_object(Bucket=f"missing-{uuid.uuid4().hex}", Key="weights.bin", Body=b"bytes")


def test_seaweedfs_rejects_a_wrong_secret_key(seaweedfs: EmbeddedSeaweedFS) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=seaweedfs.endpoint,
        aws_access_key_id=seaweedfs.access_key,
        aws_secret_access_key="not-the-secret",
        region_name=seaweedfs.region,
        config=Config(s3={"addressing_style": "path"}),
    )
    with pytest.raises(s3.exceptions.ClientError, match="SignatureDoesNotMatch"):
        s3.list_buckets()


def test_second_seaweedfs_runs_beside_the_first_and_stops_for_good(
    seaweedfs: EmbeddedSeaweedFS, tmp_path: Path
) -> None:
    second = EmbeddedSeaweedFS(tmp_path / "seaweedfs")
    second.start()
    try:
        pid, s3_port = second.pid, int(second.endpoint.rsplit(":", 1)[1])
        assert second.endpoint != seaweedfs.endpoint
        assert _s3_client(second).list_buckets()["Buckets"] == []
    finally:
        second.stop(grace=0)  # a clean exit takes ~15 s, so stop() kills it after 5 anyway
    assert not _process_exists(pid)
    assert _refuses_connections(s3_port)
    assert _s3_client(seaweedfs).list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


async def test_create_database_with_exist_ok_keeps_the_existing_one(postgres: EmbeddedPostgres) -> None:
    dsn = postgres.create_database("kept")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE marker (x int)")
        assert postgres.create_database("kept", exist_ok=True) == dsn
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE tablename = 'marker'") == 1
    finally:
        await conn.close()


def test_a_restarted_service_keeps_the_ports_it_picked(
    tmp_path: Path, fresh_database: str, launch_metadata: Callable[..., ServiceProcess]
) -> None:
    service = launch_metadata(tmp_path, fresh_database)  # port 0: it picks free ports itself
    try:
        first_pid, target, metrics_url = service.pid, service.target, service.metrics_url
        os.kill(first_pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while service.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert service.returncode == -signal.SIGKILL

        service.stop()
        service.start()
        assert (service.target, service.metrics_url) == (target, metrics_url)
        assert service.pid != first_pid
    finally:
        service.stop()
