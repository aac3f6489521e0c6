"""Registry and deploy services with authentication on: their callers' project roles decide,
through the metadata service, and each decision on a change lands in the audit log."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import skops.io
from auth_sessions import AuthTokens, new_token
from classifiers import FEATURES, push_classifier

import modelyard
from modelyard import PermissionDeniedError, UnauthenticatedError
from modelyard_common.embedded import EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess


@dataclass(frozen=True)
class Platform:
    metadata: ServiceProcess
    registry: ServiceProcess
    deploy: ServiceProcess

    def client(self, token: str | None) -> modelyard.Client:
        return modelyard.connect(
            self.metadata.target, registry=self.registry.target, deploy=self.deploy.target, token=token
        )


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory,
    auth_metadata: ServiceProcess,
    auth_dsn: str,
    auth_tokens: AuthTokens,
    seaweedfs: EmbeddedSeaweedFS,
    registry_config: Callable[..., dict[str, str]],
    deploy_config: Callable[..., dict[str, str]],
) -> Iterator[Platform]:
    data = tmp_path_factory.mktemp("auth-platform")
    on = {"auth_enabled": "true"}
    registry = ServiceProcess(
        "registry",
        "modelyard_registry",
        tmp_path_factory.mktemp("auth-registry"),
        registry_config(
            seaweedfs, auth_dsn, auth_metadata, s3_bucket="auth-tests", auth_token=auth_tokens.registry, **on
        ),
    )
    registry.start()
    deploy = ServiceProcess(
        "deploy",
        "modelyard_deploy",
        tmp_path_factory.mktemp("auth-deploy"),
        deploy_config(auth_dsn, auth_metadata, registry, data, auth_token=auth_tokens.deploy, **on),
    )
    deploy.start()
    yield Platform(auth_metadata, registry, deploy)
    deploy.stop()
    registry.stop()


@dataclass
class Team:
    project: str
    owner: modelyard.Client  # ADMIN of the project
    viewer: modelyard.Client
    stranger: modelyard.Client
    names: dict[str, str]


@pytest.fixture()
def team(platform: Platform, auth_tokens: AuthTokens) -> Iterator[Team]:
    suffix = uuid.uuid4().hex[:8]
    names = {who: f"{who}-{suffix}" for who in ("owner", "viewer", "stranger")}
    clients = {}
    with platform.client(auth_tokens.admin) as admin:
        for who, name in names.items():
            admin.create_principal(name)
            clients[who] = platform.client(admin.create_token(name, description="tests").secret)
    project = f"fraud-{suffix}"
    clients["owner"].create_project(project)
    clients["owner"].set_project_role(project, names["viewer"], "viewer")
    yield Team(project, clients["owner"], clients["viewer"], clients["stranger"], names)
    for client in clients.values():
        client.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_artifacts_go_in_for_editors_and_out_for_viewers_only(team: Team, tmp_path: Path, platform: Platform) -> None:
    reference = push_classifier(team.owner, f"{team.project}/scorer", tmp_path / "model")
    assert reference == f"{team.project}/scorer:1"
    events = list(team.owner.audit_events(project=team.project))
    granted = [(e.actor, e.reason) for e in reversed(events) if e.action == "access.granted"]
    assert granted == [
        (team.names["owner"], "RegistryService/UploadFile"),
        (team.names["owner"], "RegistryService/CommitUpload"),
    ]
    by_action = {e.action: e for e in events}
    assert (by_action["version.ready"].actor, by_action["version.ready"].access) == (
        team.names["owner"],
        "service modelyard-registry",
    )

    pulled = team.viewer.pull(reference, tmp_path / "viewer")
    assert _digest(pulled / "model.skops") == _digest(tmp_path / "model" / "model.skops")
    with pytest.raises(PermissionDeniedError) as denied:
        team.stranger.pull(reference, tmp_path / "stranger")
    assert team.names["stranger"] in denied.value.message
    assert f"needs VIEWER on project {team.project!r}" in denied.value.message
    assert not list((tmp_path / "stranger").glob("**/*.skops"))

    # A viewer cannot push: refused at registration, before any byte moves.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.bin").write_bytes(b"x" * 1000)
    with pytest.raises(PermissionDeniedError) as denied:
        team.viewer.push(f"{team.project}/scorer", tmp_path / "other")
    assert "needs EDITOR" in denied.value.message
    versions = list(team.owner.list_versions(f"{team.project}/scorer"))
    assert [(v.version, v.status.value) for v in versions] == [(1, "READY")]

    with platform.client(new_token()) as forged, pytest.raises(UnauthenticatedError):
        forged.artifact(reference)


def test_deployments_follow_project_roles(team: Team, tmp_path: Path) -> None:
    reference = push_classifier(team.owner, f"{team.project}/scorer", tmp_path / "model")
    name = f"scorer-{team.project.rsplit('-', 1)[1]}"
    with pytest.raises(PermissionDeniedError):
        team.viewer.deploy(name, reference)
    # The replica reads its version with the deploy service's own token.
    team.owner.deploy(name, reference)
    deployment = team.owner.wait_deployment(name, timeout=120)
    assert deployment.ready_replicas == 1
    estimator = skops.io.load(tmp_path / "model" / "model.skops", trusted=[])
    outputs = team.viewer.predict(name, {"input": FEATURES[:3]})
    np.testing.assert_array_equal(outputs["predict"], estimator.predict(FEATURES[:3]))

    assert team.viewer.get_deployment(name).version_reference == reference
    with pytest.raises(PermissionDeniedError):
        team.viewer.update_deployment(name, replicas=2)
    with pytest.raises(PermissionDeniedError):
        team.stranger.get_deployment(name)
    assert name not in [d.name for d in team.stranger.list_deployments()]
    assert name in [d.name for d in team.viewer.list_deployments()]

    team.owner.delete_deployment(name)
    decisions = [
        (e.action, e.actor, e.reason) for e in team.owner.audit_events(project=team.project) if e.resource == name
    ]
    assert decisions[:4] == [
        ("access.granted", team.names["owner"], "DeployService/DeleteDeployment"),
        ("access.denied", team.names["viewer"], decisions[1][2]),
        ("access.granted", team.names["owner"], "DeployService/CreateDeployment"),
        ("access.denied", team.names["viewer"], decisions[3][2]),
    ]
    assert "DeployService/UpdateDeployment" in decisions[1][2]
