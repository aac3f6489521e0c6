"""Services serving TLS and mTLS over the session's stores, with certificates made at test time."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from certificates import Authority, Issued

import modelyard
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess


@dataclass(frozen=True)
class Pki:
    """The platform's CA and what it issued; ``stranger`` holds a client certificate of ``other``."""

    ca: Authority
    other: Authority
    services: dict[str, Issued]
    client: Issued
    stranger: Issued

    def service_tls(self, name: str, *, mutual: bool) -> dict[str, str]:
        """A service's TLS settings: its own certificate, the platform CA for the services it
        calls, client certificates required with ``mutual``, a plaintext health port."""
        issued = self.services[name]
        settings = {
            "tls_cert_file": str(issued.cert_file),
            "tls_key_file": str(issued.key_file),
            "tls_ca_file": str(self.ca.ca_file),
            "health_port": "0",
        }
        if mutual:
            settings["tls_client_ca_file"] = str(self.ca.ca_file)
        return settings

    def client_tls(self, issued: Issued | None = None) -> modelyard.TLSConfig:
        """TLS trusting the platform CA, presenting ``issued`` when given."""
        if issued is None:
            return modelyard.TLSConfig(self.ca.ca_file)
        return modelyard.TLSConfig(self.ca.ca_file, cert_file=issued.cert_file, key_file=issued.key_file)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, other = Authority(directory, "modelyard"), Authority(directory, "other")
    services = {name: ca.issue(name, server=True) for name in ("metadata", "registry", "deploy")}
    return Pki(ca, other, services, ca.issue("tester", server=False), other.issue("stranger", server=False))


@pytest.fixture(scope="module")
def tls_metadata(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, metadata_dsn: str, metadata_service: ServiceProcess
) -> Iterator[ServiceProcess]:
    """A metadata service over the session metadata service's database, serving TLS (no client
    certificates asked)."""
    settings = {"db_dsn": metadata_dsn, "shutdown_grace_seconds": "2", **pki.service_tls("metadata", mutual=False)}
    service = ServiceProcess("metadata", "modelyard_metadata", tmp_path_factory.mktemp("tls-metadata"), settings)
    service.start()
    yield service
    service.stop()


@dataclass(frozen=True)
class Platform:
    metadata: ServiceProcess
    registry: ServiceProcess
    deploy: ServiceProcess

    def connect(self, tls: modelyard.TLSConfig | None) -> modelyard.Client:
        return modelyard.connect(
            self.metadata.target, registry=self.registry.target, deploy=self.deploy.target, actor="tester", tls=tls
        )


@pytest.fixture(scope="package")
def mtls_platform(
    tmp_path_factory: pytest.TempPathFactory,
    pki: Pki,
    postgres: EmbeddedPostgres,
    seaweedfs: EmbeddedSeaweedFS,
    registry_config: Callable[..., dict[str, str]],
    deploy_config: Callable[..., dict[str, str]],
) -> Iterator[Platform]:
    """Metadata, registry and deploy, each requiring client certificates of the platform CA and
    calling the others with its own; each on a database of its own."""
    data = tmp_path_factory.mktemp("mtls")
    started: list[ServiceProcess] = []

    def start(name: str, settings: dict[str, str]) -> ServiceProcess:
        service = ServiceProcess(name, f"modelyard_{name}", data / name, settings)
        started.append(service)
        service.start()
        return service

    def database(name: str) -> str:
        return postgres.create_database(f"mtls_{name}_{uuid.uuid4().hex[:8]}")

    try:
        tls = {name: pki.service_tls(name, mutual=True) for name in ("metadata", "registry", "deploy")}
        metadata = start("metadata", {"db_dsn": database("metadata"), "shutdown_grace_seconds": "2", **tls["metadata"]})
        registry_settings = registry_config(seaweedfs, database("registry"), metadata, s3_bucket="tls-tests")
        registry = start("registry", registry_settings | tls["registry"])
        deploy_settings = deploy_config(database("deploy"), metadata, registry, data / "deploy-data", warm_replicas="1")
        deploy = start("deploy", deploy_settings | tls["deploy"])
        yield Platform(metadata, registry, deploy)
    finally:
        for service in reversed(started):
            service.stop()


@pytest.fixture
def mtls_client(mtls_platform: Platform, pki: Pki) -> Iterator[modelyard.Client]:
    """A client of the mTLS platform presenting the platform CA's "tester" certificate."""
    with mtls_platform.connect(pki.client_tls(pki.client)) as client:
        yield client


@pytest.fixture
def project(mtls_client: modelyard.Client) -> str:
    name = f"p-{uuid.uuid4().hex[:10]}"
    mtls_client.create_project(name, owner="tester")
    return name
