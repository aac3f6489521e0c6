"""Session-wide real stores on loopback, started only when some test asks for them."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS


@contextlib.contextmanager
def _postgres_data_dir() -> Iterator[Path]:
    # Not under tmp_path_factory: as root, Postgres runs as another user who must traverse the
    # path, and every pytest session started as root chmods /tmp/pytest-of-root back to 0700.
    with tempfile.TemporaryDirectory(prefix="modelyard-postgres-") as parent:
        yield Path(parent, "data")


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    """A running Postgres without fsync (test data is throwaway)."""
    with _postgres_data_dir() as data_dir, EmbeddedPostgres(data_dir, durable=False) as server:
        yield server


@pytest.fixture
def postgres_data_dir() -> Iterator[Path]:
    """An empty directory for a test's own ``EmbeddedPostgres``, removed afterwards."""
    with _postgres_data_dir() as data_dir:
        yield data_dir


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
        server.stop(grace=0)  # throwaway data: no clean exit waited for (it takes ~15 s)


@pytest.fixture
def fresh_database(postgres: EmbeddedPostgres) -> str:
    """DSN of a new, empty database on the session Postgres, so tests never see each other's rows."""
    return postgres.create_database(f"test_{uuid.uuid4().hex}")
