"""Batch scoring jobs over the session's metadata and registry: a deploy service of the test's
own (own database, ``jobs_dsn``, and data folder, so that one started again finds the same
parts and jobs), or one running its jobs on pods (``pods_deploy``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from local_job_pods import deploy_with_local_pods

import modelyard
from modelyard_common.embedded import EmbeddedPostgres
from modelyard_common.embedded.service import ServiceProcess


@pytest.fixture
def start_jobs(
    tmp_path: Path,
    postgres: EmbeddedPostgres,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
    start_service: Callable[[str, dict[str, str]], ServiceProcess],
    deploy_config: Callable[..., dict[str, str]],
) -> Callable[..., ServiceProcess]:
    """start_jobs(dsn=""): a deploy service on ``dsn`` (a new database unless given), its data
    in the test's folder (a second one started on the same ``dsn`` shares it)."""
    data = tmp_path / "deploy-data"

    def start(dsn: str = "") -> ServiceProcess:
        dsn = dsn or postgres.create_database(f"jobs_{uuid.uuid4().hex}")
        settings = deploy_config(
            dsn, metadata_service, registry_service, data, jobs_poll_seconds="0.2", leader_retry_seconds="0.5"
        )
        return start_service("deploy", settings)

    return start


@pytest.fixture
def jobs_dsn(postgres: EmbeddedPostgres) -> str:
    """The database of the test's deploy service (``deploy``), for another one on it."""
    return postgres.create_database(f"jobs_{uuid.uuid4().hex}")


@pytest.fixture
def deploy(start_jobs: Callable[..., ServiceProcess], jobs_dsn: str) -> ServiceProcess:
    return start_jobs(jobs_dsn)


@pytest.fixture
def connect_jobs(
    metadata_service: ServiceProcess, registry_service: ServiceProcess
) -> Callable[[ServiceProcess], modelyard.Client]:
    """connect_jobs(deploy): a client of the session's platform with deploy service ``deploy``."""

    def connect(deploy: ServiceProcess) -> modelyard.Client:
        return modelyard.connect(
            metadata_service.target, registry=registry_service.target, deploy=deploy.target, actor="tester"
        )

    return connect


@pytest.fixture
def pods_deploy(
    tmp_path: Path,
    postgres: EmbeddedPostgres,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
    deploy_config: Callable[..., dict[str, str]],
) -> Iterator[ServiceProcess]:
    """A deploy service that runs jobs on the kubernetes runtime, its jobs' pods run on this
    machine from their rendered pod templates (local_job_pods.py), dialling it at its port."""
    dsn = postgres.create_database(f"jobs_{uuid.uuid4().hex}")
    data = tmp_path / "pods-deploy"
    service = deploy_with_local_pods(
        data, deploy_config(dsn, metadata_service, registry_service, data, jobs_poll_seconds="0.2")
    )
    service.start()
    yield service
    service.stop()


@pytest.fixture
def client(
    connect_jobs: Callable[[ServiceProcess], modelyard.Client], deploy: ServiceProcess
) -> Iterator[modelyard.Client]:
    with connect_jobs(deploy) as client:
        yield client


@pytest.fixture
def pods_client(
    connect_jobs: Callable[[ServiceProcess], modelyard.Client], pods_deploy: ServiceProcess
) -> Iterator[modelyard.Client]:
    with connect_jobs(pods_deploy) as client:
        yield client


@pytest.fixture
def project(metadata: modelyard.Client) -> str:
    name = f"j-{uuid.uuid4().hex[:10]}"
    metadata.create_project(name, owner="tester")
    return name
