"""Clients of the session's metadata, registry and deploy services (tests/integration/conftest.py
starts them), and helpers to make deployable versions."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import modelyard
from modelyard_common.embedded import EmbeddedPostgres
from modelyard_common.embedded.service import ServiceProcess


@pytest.fixture
def start_deploy(
    tmp_path: Path,
    postgres: EmbeddedPostgres,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
    start_service: Callable[[str, dict[str, str]], ServiceProcess],
    deploy_config: Callable[..., dict[str, str]],
) -> Callable[..., ServiceProcess]:
    """start_deploy(dsn="", **settings): a deploy service of the test's own (own database unless
    ``dsn`` is given); stopped after the test."""

    def start(dsn: str = "", **extra: str) -> ServiceProcess:
        dsn = dsn or postgres.create_database(f"deploy_{uuid.uuid4().hex}")
        data = tmp_path / f"deploy-data-{uuid.uuid4().hex[:6]}"
        return start_service("deploy", deploy_config(dsn, metadata_service, registry_service, data, **extra))

    return start


@pytest.fixture
def client(
    metadata_service: ServiceProcess, registry_service: ServiceProcess, deploy_service: ServiceProcess
) -> Iterator[modelyard.Client]:
    """A client of all three services, acting as "tester"."""
    with modelyard.connect(
        metadata_service.target, registry=registry_service.target, deploy=deploy_service.target, actor="tester"
    ) as client:
        yield client


@pytest.fixture
def project(metadata: modelyard.Client) -> str:
    """A new project of the test's own."""
    name = f"p-{uuid.uuid4().hex[:10]}"
    metadata.create_project(name, owner="tester")
    return name


@pytest.fixture
def name() -> str:
    """A deployment name no other test uses."""
    return f"d-{uuid.uuid4().hex[:12]}"
