"""A metadata service with authentication on: its admin and service tokens, and sessions.

Fixtures: ``auth_tokens`` (admin, registry, deploy tokens), ``auth_metadata`` (the process),
``admin`` (a Session with the admin token); auth_sessions.Session(target, token) for others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from auth_sessions import AuthTokens, Session, new_token

from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess


@pytest.fixture(scope="session")
def auth_tokens() -> AuthTokens:
    return AuthTokens(new_token(), new_token(), new_token())


@pytest.fixture(scope="session")
def auth_dsn(postgres: EmbeddedPostgres) -> str:
    return postgres.create_database("auth_tests")


@pytest.fixture(scope="session")
def auth_metadata(
    tmp_path_factory: pytest.TempPathFactory,
    auth_dsn: str,
    redis_server: EmbeddedRedis,
    auth_tokens: AuthTokens,
    launch_metadata: Callable[..., ServiceProcess],
) -> Iterator[ServiceProcess]:
    service = launch_metadata(
        tmp_path_factory.mktemp("auth-metadata"), auth_dsn, redis_server.url, **auth_tokens.metadata_settings()
    )
    yield service
    service.stop()


@pytest.fixture()
def admin(auth_metadata: ServiceProcess, auth_tokens: AuthTokens) -> Iterator[Session]:
    session = Session(auth_metadata.target, auth_tokens.admin)
    yield session
    session.close()
