"""A metadata service with authentication on (its admin's and the services' tokens) and a
registry, over a database of their own: no deploy service claims the runs these tests lease
themselves with the deploy service's token. Fixtures: ``client`` (the platform admin),
``runner`` (InternalCalls with the deploy service's token), ``churn`` (a project with a model
that has a READY version, a READY dataset and a score definition), ``scoring_deploy`` (starts a
deploy service that scores the runs)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scoring_platform import Churn, Tokens

import modelyard
from modelyard.internal import InternalCalls
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess

CUSTOMERS = "tenure,monthly,churned\n12,29.9,0\n3,49.5,1\n40,19.0,0\n"


def _token() -> str:
    return "myd_" + secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def scoring_tokens() -> Tokens:
    return Tokens(_token(), _token(), _token())


@pytest.fixture(scope="session")
def scoring_dsn(postgres: EmbeddedPostgres) -> str:
    return postgres.create_database("scoring_tests")


@pytest.fixture(scope="session")
def scoring_metadata(
    tmp_path_factory: pytest.TempPathFactory,
    scoring_dsn: str,
    redis_server: EmbeddedRedis,
    scoring_tokens: Tokens,
    launch_metadata: Callable[..., ServiceProcess],
) -> Iterator[ServiceProcess]:
    services = {"modelyard-registry": scoring_tokens.registry, "modelyard-deploy": scoring_tokens.deploy}
    service = launch_metadata(
        tmp_path_factory.mktemp("scoring-metadata"),
        scoring_dsn,
        redis_server.url,
        auth_enabled="true",
        admin_token=scoring_tokens.admin,
        service_tokens=json.dumps(services),
    )
    yield service
    service.stop()


@pytest.fixture(scope="session")
def scoring_registry(
    tmp_path_factory: pytest.TempPathFactory,
    scoring_metadata: ServiceProcess,
    scoring_dsn: str,
    scoring_tokens: Tokens,
    seaweedfs: EmbeddedSeaweedFS,
    registry_config: Callable[..., dict[str, str]],
) -> Iterator[ServiceProcess]:
    registry = ServiceProcess(
        "registry",
        "modelyard_registry",
        tmp_path_factory.mktemp("scoring-registry"),
        registry_config(
            seaweedfs,
            scoring_dsn,
            scoring_metadata,
            s3_bucket="scoring-tests",
            auth_token=scoring_tokens.registry,
            auth_enabled="true",
        ),
    )
    registry.start()
    yield registry
    registry.stop()


@pytest.fixture
def client(
    scoring_metadata: ServiceProcess, scoring_registry: ServiceProcess, scoring_tokens: Tokens
) -> Iterator[modelyard.Client]:
    with modelyard.connect(
        scoring_metadata.target, registry=scoring_registry.target, token=scoring_tokens.admin
    ) as client:
        yield client


@pytest.fixture
def scoring_deploy(
    scoring_metadata: ServiceProcess,
    scoring_registry: ServiceProcess,
    scoring_tokens: Tokens,
    postgres: EmbeddedPostgres,
    start_service: Callable[[str, dict[str, str]], ServiceProcess],
    deploy_config: Callable[..., dict[str, str]],
) -> Callable[[Path], ServiceProcess]:
    """scoring_deploy(data): a deploy service of the test's own (its own database, its data in
    ``data``) that scores the runs, with the deploy service's token."""

    def start(data: Path) -> ServiceProcess:
        settings = deploy_config(
            postgres.create_database(f"deploy_{uuid.uuid4().hex}"),
            scoring_metadata,
            scoring_registry,
            data,
            auth_enabled="true",
            auth_token=scoring_tokens.deploy,
            scoring_enabled="true",
        )
        return start_service("deploy", settings)

    return start


@pytest.fixture
def runner(scoring_metadata: ServiceProcess, scoring_tokens: Tokens) -> Iterator[InternalCalls[Any]]:
    """The deploy service's calls, with its own token."""
    with modelyard.connect(scoring_metadata.target, token=scoring_tokens.deploy) as deploy:
        yield InternalCalls(deploy)


@pytest.fixture
def churn(client: modelyard.Client, tmp_path: Path) -> Churn:
    project = f"retail-{uuid.uuid4().hex[:8]}"
    client.create_project(project)
    model = f"{project}/churn"
    client.create_model(model)
    artifact = tmp_path / "model.json"
    artifact.write_text('{"weights": [1, 2]}')
    client.push(model, artifact)
    csv = tmp_path / "customers.csv"
    csv.write_text(CUSTOMERS)
    client.create_dataset(f"{project}/customers")
    dataset = client.push_dataset(f"{project}/customers", csv)
    client.set_score_definition(
        model,
        task="classification",
        inputs={"features": ["tenure", "monthly"]},
        label_column="churned",
        metrics=["accuracy", "f1"],
        thresholds={"accuracy": (0.8, None)},
        reason="first definition",
    )
    return Churn(project, model, dataset.reference)
