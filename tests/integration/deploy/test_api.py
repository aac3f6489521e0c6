"""DeployService requests that are refused, and what the refusals say."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from classifiers import push_classifier

import modelyard
from modelyard.v1 import deploy_pb2, deploy_pb2_grpc
from modelyard_common.embedded.service import ServiceProcess


def test_a_bad_name_is_invalid_and_the_message_names_the_field(client: modelyard.Client, project: str) -> None:
    with pytest.raises(modelyard.InvalidArgumentError, match=r"name: 'Scorer' must be lowercase letters"):
        client.deploy("Scorer", f"{project}/m:1")
    with pytest.raises(modelyard.InvalidArgumentError, match=r"name: '.*' is longer than 40 characters"):
        client.deploy("a" * 41, f"{project}/m:1")


def test_more_than_16_replicas_is_invalid(client: modelyard.Client, project: str, name: str) -> None:
    with pytest.raises(modelyard.InvalidArgumentError, match="replicas: 17 is not between 0 and 16"):
        client.deploy(name, f"{project}/m:1", replicas=17)


def test_a_version_that_is_not_ready_cannot_be_deployed(client: modelyard.Client, project: str, name: str) -> None:
    client.create_model(f"{project}/scorer")
    version = client.create_version(f"{project}/scorer", framework="sklearn")
    with pytest.raises(modelyard.FailedPreconditionError) as caught:
        client.deploy(name, version.reference)
    assert caught.value.message == (
        f"model_reference: version {version.reference} is PENDING_UPLOAD; only READY versions can be deployed"
    )
    with pytest.raises(modelyard.NotFoundError):
        client.get_deployment(name)


def test_an_unknown_model_is_not_found(client: modelyard.Client, project: str, name: str) -> None:
    with pytest.raises(modelyard.NotFoundError, match="nope"):
        client.deploy(name, f"{project}/nope")


def test_an_unknown_deployment_is_not_found_everywhere(client: modelyard.Client, name: str) -> None:
    for call in (
        lambda: client.get_deployment(name),
        lambda: client.update_deployment(name, replicas=2),
        lambda: client.rollback_deployment(name),
        lambda: client.delete_deployment(name),
        lambda: client.deployment_revisions(name),
        lambda: next(iter(client.watch_deployment(name))),
    ):
        with pytest.raises(modelyard.NotFoundError, match=f"name: there is no deployment '{name}'"):
            call()


def test_deployments_are_listed_by_name_page_by_page_and_by_project(
    client: modelyard.Client, deploy_service: ServiceProcess, project: str, tmp_path: Path
) -> None:

    client.create_model(f"{project}/m")
    reference = push_classifier(client, f"{project}/m", tmp_path / "m")
    names = [f"{project}-{suffix}" for suffix in ("c", "a", "b")]
    for name in names:
        client.deploy(name, reference)
    try:
        with grpc.insecure_channel(deploy_service.target) as channel:
            stub = deploy_pb2_grpc.DeployServiceStub(channel)
            first = stub.ListDeployments(deploy_pb2.ListDeploymentsRequest(project=project, page_size=2))
            rest = stub.ListDeployments(
                deploy_pb2.ListDeploymentsRequest(project=project, page_size=2, page_token=first.next_page_token)
            )
        assert [d.name for d in first.deployments] == sorted(names)[:2]
        assert ([d.name for d in rest.deployments], rest.next_page_token) == (sorted(names)[2:], "")
        assert [d.name for d in client.list_deployments(project=project)] == sorted(names)
        assert not set(names) & {d.name for d in client.list_deployments(project="another")}
        with pytest.raises(modelyard.AlreadyExistsError, match=f"name: deployment '{names[0]}' already exists"):
            client.create_deployment(names[0], reference)
    finally:
        for name in names:
            client.delete_deployment(name)


@pytest.mark.parametrize(
    ("request_pb", "method", "message"),
    [
        (deploy_pb2.GetDeploymentRequest(name="a\x00"), "GetDeployment", "name: 'a\\x00' must be lowercase letters"),
        (deploy_pb2.DeleteDeploymentRequest(name=""), "DeleteDeployment", "name: is required"),
        (
            deploy_pb2.UpdateDeploymentRequest(name="scorer", reason="r" * 4097),
            "UpdateDeployment",
            "reason: is 4097 characters long; at most 4096 allowed",
        ),
        (
            deploy_pb2.CreateDeploymentRequest(name="scorer", model_reference="p/m:1", runtime=7),  # type: ignore[arg-type]
            "CreateDeployment",
            "runtime: 7 is not a runtime: use PROCESS or KUBERNETES",
        ),
        (deploy_pb2.ListDeploymentsRequest(page_token="x\x00"), "ListDeployments", "page_token: 'x\\x00' must be"),
        (deploy_pb2.ListDeploymentsRequest(page_size=1001), "ListDeployments", "page_size: must be between 0 and 1000"),
        (deploy_pb2.ListDeploymentsRequest(project="P!"), "ListDeployments", "project: 'P!' is not a project name"),
    ],
)
def test_malformed_requests_are_invalid_argument_naming_the_field(
    deploy_service: ServiceProcess, request_pb: object, method: str, message: str
) -> None:
    with grpc.insecure_channel(deploy_service.target) as channel:
        call = getattr(deploy_pb2_grpc.DeployServiceStub(channel), method)
        with pytest.raises(grpc.RpcError) as caught:
            call(request_pb, timeout=30)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert str(caught.value.details()).startswith(message), caught.value.details()
