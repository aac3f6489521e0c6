"""Clients of the session's metadata service (tests/integration/conftest.py), and extra service processes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

import modelyard
from modelyard.v1 import metadata_pb2_grpc
from modelyard_common.embedded.service import ServiceProcess


@pytest.fixture
def start_service(
    tmp_path: Path, launch_metadata: Callable[..., ServiceProcess]
) -> Iterator[Callable[..., ServiceProcess]]:
    """Starts extra metadata service processes for one test and stops them afterwards."""
    started: list[ServiceProcess] = []

    def start(dsn: str, redis_url: str = "", **settings: str) -> ServiceProcess:
        service = launch_metadata(tmp_path / f"service-{len(started)}", dsn, redis_url, **settings)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def client(metadata: modelyard.Client) -> modelyard.Client:
    """The session service's SDK client (``metadata``), by the name these tests use."""
    return metadata


@pytest.fixture
def stub(metadata_service: ServiceProcess) -> Iterator[metadata_pb2_grpc.MetadataServiceStub]:
    """Raw generated stubs, for what the SDK deliberately hides (page tokens, field masks)."""
    with grpc.insecure_channel(metadata_service.target) as channel:
        yield metadata_pb2_grpc.MetadataServiceStub(channel)


@pytest.fixture
def project(client: modelyard.Client) -> str:
    """A new project per test, so that tests sharing the service never see each other's models."""
    name = f"p-{uuid.uuid4().hex[:10]}"
    client.create_project(name, description="test project", owner="tester")
    return name
