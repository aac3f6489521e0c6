"""TLS on a service's gRPC port: a TLS client reads what was written through another instance,
a plaintext client cannot talk to it, and the plaintext health port answers health only."""

from __future__ import annotations

import uuid

import grpc
import pytest
from conftest import Pki
from grpc_health.v1 import health_pb2, health_pb2_grpc

import modelyard
from modelyard.v1 import metadata_pb2, metadata_pb2_grpc
from modelyard_common.embedded.service import ServiceProcess


def test_a_tls_client_sees_the_data_written_over_plaintext(
    tls_metadata: ServiceProcess, metadata: modelyard.Client, pki: Pki
) -> None:
    name = f"p-{uuid.uuid4().hex[:10]}"
    metadata.create_project(name, description="written over plaintext", owner="tester")

    with modelyard.connect(tls_metadata.target, actor="tester", tls=pki.client_tls()) as client:
        project = client.get_project(name)

    assert (project.name, project.description, project.owner) == (name, "written over plaintext", "tester")


def test_the_server_name_can_differ_from_the_host_dialled(tls_metadata: ServiceProcess, pki: Pki) -> None:
    tls = modelyard.TLSConfig(pki.ca.ca_file, server_name="localhost")
    with (
        modelyard.connect(tls_metadata.target, tls=tls) as client,
        pytest.raises(modelyard.NotFoundError, match="no-such-project"),
    ):
        client.get_project("no-such-project")
    wrong = modelyard.TLSConfig(pki.ca.ca_file, server_name="metadata.elsewhere")
    with (
        modelyard.connect(tls_metadata.target, tls=wrong, timeout=5) as client,
        pytest.raises(modelyard.UnavailableError),
    ):
        client.get_project("no-such-project")


def test_a_plaintext_client_of_a_tls_port_is_unavailable(tls_metadata: ServiceProcess) -> None:
    with modelyard.connect(tls_metadata.target, timeout=5) as client, pytest.raises(modelyard.UnavailableError):
        list(client.list_projects())


def test_a_client_of_another_ca_does_not_trust_the_server(tls_metadata: ServiceProcess, pki: Pki) -> None:
    with (
        modelyard.connect(tls_metadata.target, tls=modelyard.TLSConfig(pki.other.ca_file), timeout=5) as client,
        pytest.raises(modelyard.UnavailableError),
    ):
        list(client.list_projects())


def test_the_health_port_answers_serving_in_plaintext_and_serves_nothing_else(tls_metadata: ServiceProcess) -> None:
    assert tls_metadata.health_target != tls_metadata.target
    with grpc.insecure_channel(tls_metadata.health_target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        service = metadata_pb2.DESCRIPTOR.services_by_name["MetadataService"].full_name
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

        with pytest.raises(grpc.RpcError) as refused:
            metadata_pb2_grpc.MetadataServiceStub(channel).ListProjects(metadata_pb2.ListProjectsRequest(), timeout=5)
    assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_tls_files_must_come_in_pairs() -> None:
    with pytest.raises(ValueError, match="cert_file and key_file go together"):
        modelyard.TLSConfig("ca.pem", cert_file="client.pem")
