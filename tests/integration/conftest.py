"""Real services (subprocesses, real gRPC on loopback) over the session's stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis
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
def metadata_service(
    tmp_path_factory: pytest.TempPathFactory, metadata_dsn: str, redis_server: EmbeddedRedis
) -> Iterator[ServiceProcess]:
    service = _start_metadata(tmp_path_factory.mktemp("metadata"), metadata_dsn, redis_server.url)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def launch_metadata() -> Callable[..., ServiceProcess]:
    """Starts a metadata service process: (data_dir, dsn, redis_url="", **settings)."""
    return _start_metadata
