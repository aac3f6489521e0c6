"""The service as a process: health, reflection, metrics, configuration, migrations, shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import modelyard
from modelyard_common.embedded import EmbeddedPostgres
from modelyard_common.embedded.service import ServiceProcess
from modelyard_common.migrations import migrate
from modelyard_metadata.main import MIGRATIONS


def test_health_and_reflection_answer(metadata_service: ServiceProcess) -> None:
    with grpc.insecure_channel(metadata_service.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service="modelyard.v1.MetadataService"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        responses = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = {s.name for s in next(responses).list_services_response.service}
    assert {"modelyard.v1.MetadataService", "grpc.health.v1.Health"} <= names


def test_metrics_count_rpcs_by_method_and_code(metadata_service: ServiceProcess, client: modelyard.Client) -> None:
    with pytest.raises(modelyard.errors.NotFoundError):
        client.get_project("no-such-project-for-metrics")
    text = urllib.request.urlopen(metadata_service.metrics_url, timeout=5).read().decode()
    assert 'modelyard_rpc_requests_total{code="NOT_FOUND",method="GetProject",service="MetadataService"}' in text
    assert 'modelyard_rpc_duration_seconds_bucket{code="NOT_FOUND",le="0.5",method="GetProject"' in text
    assert 'modelyard_rpc_in_flight{method="GetProject",service="MetadataService"} 0.0' in text


def test_bad_configuration_exits_naming_the_variable(metadata_dsn: str) -> None:
    env = {**os.environ, "MLREG_METADATA_DB_DSN": metadata_dsn, "MLREG_METADATA_PORT": "seventy"}
    result = subprocess.run(
        [sys.executable, "-m", "modelyard_metadata"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "MLREG_METADATA_PORT: Input should be a valid integer" in result.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLREG_METADATA_")}
    result = subprocess.run(
        [sys.executable, "-m", "modelyard_metadata"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "MLREG_METADATA_DB_DSN: Field required" in result.stderr


def test_sigterm_drains_and_exits_cleanly(start_service: Callable[..., ServiceProcess], metadata_dsn: str) -> None:
    service = start_service(metadata_dsn)
    os.kill(service.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while service.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not service.running
    assert service.returncode == 0
    assert "stopped" in service.log_path.read_text()


async def test_two_replicas_migrating_at_once_apply_each_migration_once(postgres: EmbeddedPostgres) -> None:
    dsn = postgres.create_database("migrations_race")
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        applied = await asyncio.gather(migrate(first, MIGRATIONS), migrate(second, MIGRATIONS))
        assert sorted(applied, key=len) == [
            [],
            [
                "0001_initial",
                "0002_serving",
                "0003_auth",
                "0004_serving_tokens",
                "0005_consumers",
                "0006_datasets",
                "0007_webhooks",
                "0008_scoring",
                "0009_service_events",
                "0010_pending_datasets",
                "0011_scoring_trusted_types",
                "0012_version_reads",
            ],
        ]
        assert await migrate(first, MIGRATIONS) == []
        rows = await first.fetch("SELECT version, name FROM schema_migrations")
        assert [(r["version"], r["name"]) for r in rows] == [
            (1, "initial"),
            (2, "serving"),
            (3, "auth"),
            (4, "serving_tokens"),
            (5, "consumers"),
            (6, "datasets"),
            (7, "webhooks"),
            (8, "scoring"),
            (9, "service_events"),
            (10, "pending_datasets"),
            (11, "scoring_trusted_types"),
            (12, "version_reads"),
        ]
    finally:
        await first.close()
        await second.close()
