"""A metadata service that may POST to loopback, with quick retries, over a database of its own
(no other service's worker delivers its events), and a receiver per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from webhook_receiver import Receiver

import modelyard
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess

# Loopback allowed, a retry every 0.2 s up to 0.8 s, an attempt's deadline 1 s.
WEBHOOK_SETTINGS = {
    "webhook_allowed_hosts": '["127.0.0.0/8"]',
    "webhook_secret_key": "tests-" + "k" * 40,
    "webhook_retry_base_seconds": "0.2",
    "webhook_retry_max_seconds": "0.8",
    "webhook_timeout_seconds": "1",
    "webhook_poll_seconds": "0.2",
}


@pytest.fixture(scope="session")
def webhook_settings() -> dict[str, str]:
    return WEBHOOK_SETTINGS


@pytest.fixture(scope="session")
def webhook_dsn(postgres: EmbeddedPostgres) -> str:
    return postgres.create_database("webhook_tests")


@pytest.fixture(scope="session")
def start_webhook_service(
    tmp_path_factory: pytest.TempPathFactory,
    webhook_dsn: str,
    redis_server: EmbeddedRedis,
    launch_metadata: Callable[..., ServiceProcess],
) -> Callable[[], ServiceProcess]:
    """Starts a metadata service on the webhook database (the caller stops it)."""

    def start() -> ServiceProcess:
        data: Path = tmp_path_factory.mktemp("webhook-metadata")
        return launch_metadata(data, webhook_dsn, redis_server.url, **WEBHOOK_SETTINGS)

    return start


@pytest.fixture(scope="session")
def webhook_service(start_webhook_service: Callable[[], ServiceProcess]) -> Iterator[ServiceProcess]:
    service = start_webhook_service()
    yield service
    service.stop()


@pytest.fixture
def client(webhook_service: ServiceProcess) -> Iterator[modelyard.Client]:
    with modelyard.connect(webhook_service.target, actor="tester") as client:
        yield client


@pytest.fixture
def project(client: modelyard.Client) -> str:
    name = f"hooks-{uuid.uuid4().hex[:8]}"
    client.create_project(name)
    client.create_model(f"{name}/scorer")
    return name


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()
