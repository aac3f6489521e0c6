"""Registry and deploy services with authentication on: their callers' project roles decide,
through the metadata service, and each decision on a change lands in the audit log."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
import skops.io
from auth_sessions import AuthTokens, Platform, Team, new_token
from classifiers import FEATURES, push_classifier
from replica_processes import until

import modelyard
from modelyard import PermissionDeniedError, UnauthenticatedError
from modelyard.internal import InternalCalls, ServiceEvent


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
    # A stranger learns nothing of what exists: the same refusal for a version and for none.
    refusals = []
    for asked in (reference, f"{team.project}/scorer:999"):
        with pytest.raises(PermissionDeniedError) as denied:
            team.stranger.deploy(f"{name}-stolen", asked)
        refusals.append(denied.value.message.replace(asked, "REF"))
    assert refusals[0] == refusals[1] and f"needs EDITOR on project {team.project!r}" in refusals[0]
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


def test_a_replica_whose_credential_cannot_be_issued_is_failed_saying_why(
    team: Team, platform: Platform, auth_tokens: AuthTokens
) -> None:
    """An ensemble loading more versions than a serving credential may name (64): the deploy
    service cannot start its replica, and says so on the replica instead of losing track of it."""
    file = modelyard.ArtifactFile(path="m", size=1, sha256="1" * 64, storage_key="k", content_type="")
    team.owner.create_model(f"{team.project}/leaf")
    with platform.client(auth_tokens.registry) as registry:
        leaves = []
        for _ in range(65):
            pending = team.owner.create_version(f"{team.project}/leaf").reference
            leaves.append(InternalCalls(registry).commit_artifact(pending, modelyard.Artifact((file,), 1)).reference)
    parts = []
    for i in range(5):
        model = f"{team.project}/part{i}"
        team.owner.create_model(model, kind=modelyard.ModelKind.ENSEMBLE)
        serving = modelyard.Serving(ensemble_method=modelyard.EnsembleMethod.AVERAGE, members=tuple(leaves[i::5]))
        parts.append(team.owner.create_version(model, serving=serving).reference)
    team.owner.create_model(f"{team.project}/whole", kind=modelyard.ModelKind.ENSEMBLE)
    serving = modelyard.Serving(ensemble_method=modelyard.EnsembleMethod.AVERAGE, members=tuple(parts))
    whole = team.owner.create_version(f"{team.project}/whole", serving=serving).reference

    name = f"whole-{team.project.rsplit('-', 1)[1]}"
    team.owner.deploy(name, whole)
    try:
        deadline = time.monotonic() + 60
        while (deployment := team.owner.get_deployment(name)).state is not modelyard.DeploymentState.FAILED:
            assert time.monotonic() < deadline, f"still {deployment.state}: {deployment.status_message}"
            time.sleep(0.2)
        # The new revision failed on its replica, which the deploy service kept track of.
        assert deployment.status_message.startswith(f"revision 1 cannot start: replica {name}-1-")
        assert ": could not start: reference: it loads more than 64 versions" in deployment.status_message
    finally:
        team.owner.delete_deployment(name)

    # The deployment's changes reach the audit log too, by the owner, through the deploy service.
    def deleted() -> list[modelyard.AuditEvent]:
        found = list(team.viewer.audit_events(project=team.project, resource=f"deployment/{name}"))
        return found if any(e.after and e.after["change"] == "deleted" for e in found) else []

    created = [e for e in until(deleted, "the deletion's event", 30) if e.after and e.after["change"] == "created"]
    assert [(e.actor, e.access) for e in created] == [(team.names["owner"], "service modelyard-deploy")]
    with pytest.raises(PermissionDeniedError, match="only the platform's services"):
        InternalCalls(team.owner).record_service_events(
            [ServiceEvent("o", 1, "deployment.changed", team.project, f"deployment/{name}", team.names["owner"])]
        )
