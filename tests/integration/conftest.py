"""Real services (subprocesses, real gRPC on loopback) over the session's stores."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import modelyard
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess


def _start_metadata(data_dir: Path, dsn: str, redis_url: str = "", **settings: str) -> ServiceProcess:
    service = ServiceProcess(
        "metadata",
        "modelyard_metadata",
        data_dir,
        {"db_dsn": dsn, "redis_url": redis_url, "shutdown_grace_seconds": "2", **settings},
    )
    service.start()
    return service


@pytest.fixture(scope="session")
def metadata_dsn(postgres: EmbeddedPostgres) -> str:
    return postgres.create_database("metadata_tests")


@pytest.fixture(scope="session")
def dead_end_url() -> Iterator[str]:
    """A loopback URL whose port is bound and never listened on: a POST there is refused, and
    nothing else can take the port."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}/hook"


@pytest.fixture(scope="session")
def metadata_service(
    tmp_path_factory: pytest.TempPathFactory, metadata_dsn: str, redis_server: EmbeddedRedis
) -> Iterator[ServiceProcess]:
    # Webhooks go to no public address, and to loopback only (tests subscribe dead_end_url), so
    # that no subscription a test (or the fuzzer) makes reaches outside.
    service = _start_metadata(
        tmp_path_factory.mktemp("metadata"),
        metadata_dsn,
        redis_server.url,
        webhook_allow_public="false",
        webhook_allowed_hosts='["127.0.0.1/32"]',
    )
    yield service
    service.stop()


@pytest.fixture(scope="session")
def launch_metadata() -> Callable[..., ServiceProcess]:
    """Starts a metadata service process: (data_dir, dsn, redis_url="", **settings)."""
    return _start_metadata


def registry_settings(seaweedfs: EmbeddedSeaweedFS, dsn: str, metadata: ServiceProcess, **extra: str) -> dict[str, str]:
    return {
        "db_dsn": dsn,
        "metadata_addr": metadata.target,
        "s3_endpoint": seaweedfs.endpoint,
        "s3_access_key": seaweedfs.access_key,
        "s3_secret_key": seaweedfs.secret_key,
        "s3_bucket": "registry-tests",
        "part_size_mib": "5",
        "reconcile_interval_seconds": "0",
        "lease_seconds": "5",
        "shutdown_grace_seconds": "2",
        **extra,
    }


@pytest.fixture(scope="session")
def registry_service(
    tmp_path_factory: pytest.TempPathFactory,
    seaweedfs: EmbeddedSeaweedFS,
    metadata_dsn: str,
    metadata_service: ServiceProcess,
) -> Iterator[ServiceProcess]:
    service = ServiceProcess(
        "registry",
        "modelyard_registry",
        tmp_path_factory.mktemp("registry"),
        registry_settings(seaweedfs, metadata_dsn, metadata_service),
    )
    service.start()
    yield service
    service.stop()


def deploy_settings(
    dsn: str, metadata: ServiceProcess, registry: ServiceProcess, data: Path, **extra: str
) -> dict[str, str]:
    return {
        "db_dsn": dsn,
        "metadata_addr": metadata.target,
        "registry_addr": registry.target,
        "cache_dir": str(data / "cache"),
        "run_dir": str(data / "replicas"),
        # No warm interpreter (~2 s of CPU to import what serving needs) for deploy services that
        # run no deployment; the ones that do (and the warm pool's tests) ask for one.
        "warm_replicas": "0",
        "reconcile_interval_seconds": "0.5",
        "events_interval_seconds": "0.2",
        # Scoring tests lease their runs themselves, with the deploy service's token; a test of
        # the deploy service's scoring runner turns it on.
        "scoring_enabled": "false",
        "scoring_poll_seconds": "0.2",
        "jobs_poll_seconds": "0.2",
        "leader_retry_seconds": "0.5",
        "ready_timeout_seconds": "60",
        "restart_backoff_seconds": "0.2",
        "replica_stop_grace_seconds": "5",
        "shutdown_grace_seconds": "2",
        **extra,
    }


@pytest.fixture(scope="session")
def deploy_config() -> Callable[..., dict[str, str]]:
    """deploy_config(dsn, metadata, registry, data_dir, **extra): the MLREG_DEPLOY_* settings of a
    deploy service, with short intervals for tests."""
    return deploy_settings


@pytest.fixture(scope="session")
def deploy_service(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: EmbeddedPostgres,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
    deploy_config: Callable[..., dict[str, str]],
) -> Iterator[ServiceProcess]:
    """A deploy service over the session's metadata and registry services, on a database of its
    own; its run folder is ``data_dir / "replicas"``."""
    data = tmp_path_factory.mktemp("deploy")
    dsn = postgres.create_database("deploy_tests")
    settings = deploy_config(dsn, metadata_service, registry_service, data, warm_replicas="1")
    service = ServiceProcess("deploy", "modelyard_deploy", data, settings)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], ServiceProcess]]:
    """start_service(name, settings): a `modelyard_<name>` service process of the test's own,
    serving when it returns; every one is stopped after the test."""
    started: list[ServiceProcess] = []

    def start(name: str, settings: dict[str, str]) -> ServiceProcess:
        service = ServiceProcess(name, f"modelyard_{name}", tmp_path / f"{name}-{len(started)}", settings)
        started.append(service)
        service.start()
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def metadata(metadata_service: ServiceProcess) -> Iterator[modelyard.Client]:
    with modelyard.connect(metadata_service.target, actor="tester") as client:
        yield client


@pytest.fixture(scope="session")
def registry_config(metadata_service: ServiceProcess) -> Callable[..., dict[str, str]]:
    """registry_config(seaweedfs, dsn, metadata=<the session's>, **extra): the MLREG_REGISTRY_*
    settings of a registry."""

    def config(
        seaweedfs: EmbeddedSeaweedFS, dsn: str, metadata: ServiceProcess = metadata_service, **extra: str
    ) -> dict[str, str]:
        return registry_settings(seaweedfs, dsn, metadata, **extra)

    return config
