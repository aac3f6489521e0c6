"""Batch scoring jobs over the session's metadata, registry and deploy services (each test in a
project of its own), and deploy services of a test's own (data folder given, so that a restarted
one finds the same parts)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
        return start_service("deploy", deploy_config(dsn, metadata_service, registry_service, data))

    return start


@pytest.fixture
def deploy(deploy_service: ServiceProcess) -> ServiceProcess:
    """The session's deploy service (its run folder is ``data_dir / "replicas"``)."""
    return deploy_service


@pytest.fixture
def client(
    metadata_service: ServiceProcess, registry_service: ServiceProcess, deploy: ServiceProcess
) -> Iterator[modelyard.Client]:
    with modelyard.connect(
        metadata_service.target, registry=registry_service.target, deploy=deploy.target, actor="tester"
    ) as client:
        yield client


@pytest.fixture
def project(metadata: modelyard.Client) -> str:
    name = f"j-{uuid.uuid4().hex[:10]}"
    metadata.create_project(name, owner="tester")
    return name
