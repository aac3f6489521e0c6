"""Session-wide real stores on loopback, started only when some test asks for them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A running Postgres without fsync (test data is throwaway)."""
    with EmbeddedPostgres(tmp_path_factory.mktemp("postgres"), durable=False) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A running Redis."""
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSeaweedFS]:
    """A running SeaweedFS S3 endpoint; it takes seconds to start, so only tests that need it pay."""
    with EmbeddedSeaweedFS(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def fresh_database(postgres: EmbeddedPostgres) -> str:
    """DSN of a new, empty database on the session Postgres, so tests never see each other's rows."""
    return postgres.create_database(f"test_{uuid.uuid4().hex}")
