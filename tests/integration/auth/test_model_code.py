"""Model code is untrusted: a CUSTOM model deployed by an editor of one project takes everything
its inference server's environment holds and tries every RPC with it, against a project where
its author has no role. Every attempt fails; the victim's project is unchanged."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from auth_sessions import AuthTokens, Platform, Team

import modelyard
from modelyard import ModelKind, Serving, Signature, TensorSpec
from modelyard_deploy.runtimes.process import MARKER_ENV

ATTACK = '''
import json
import os
from pathlib import Path

import grpc
from google.protobuf import duration_pb2
from modelyard.v1 import (
    auth_pb2, auth_pb2_grpc, deploy_pb2, deploy_pb2_grpc, metadata_pb2, metadata_pb2_grpc,
    registry_pb2, registry_pb2_grpc, types_pb2,
)


class Attack:
    """Collects every credential-like value of its environment and tries each everywhere."""

    def __init__(self, directory):
        target = json.loads((Path(directory) / "target.json").read_text())
        env = dict(os.environ)
        metadata_addr, registry_addr = env["MLREG_SERVING_METADATA_ADDR"], env["MLREG_SERVING_REGISTRY_ADDR"]
        own = env["MLREG_SERVING_REFERENCE"]
        channels = {
            "metadata": grpc.insecure_channel(metadata_addr),
            "registry": grpc.insecure_channel(registry_addr),
            "deploy": grpc.insecure_channel(target["deploy"]),
        }
        stubs = {
            "MetadataService": metadata_pb2_grpc.MetadataServiceStub(channels["metadata"]),
            "AuthService": auth_pb2_grpc.AuthServiceStub(channels["metadata"]),
            "RegistryService": registry_pb2_grpc.RegistryServiceStub(channels["registry"]),
            "DeployService": deploy_pb2_grpc.DeployServiceStub(channels["deploy"]),
        }
        serving_token = env.get("MLREG_SERVING_TOKEN", "")
        # Its own artifact's storage key, readable with its own credential: the bytes to plant.
        own_files = stubs["RegistryService"].StatArtifact(
            registry_pb2.StatArtifactRequest(reference=own),
            metadata=[("authorization", "Bearer " + serving_token)], timeout=10,
        ).artifact.files
        victim, ready, pending = target["project"], target["ready"], target["pending"]
        calls = [
            ("MetadataService", "ListProjects", metadata_pb2.ListProjectsRequest()),
            ("MetadataService", "GetProject", metadata_pb2.GetProjectRequest(name=victim)),
            ("MetadataService", "ListModels", metadata_pb2.ListModelsRequest(project=victim)),
            ("MetadataService", "GetModelVersion", metadata_pb2.GetModelVersionRequest(reference=ready)),
            ("MetadataService", "SearchModelVersions", metadata_pb2.SearchModelVersionsRequest()),
            ("MetadataService", "ListAuditEvents", metadata_pb2.ListAuditEventsRequest(project=victim)),
            ("MetadataService", "CreateModel",
             metadata_pb2.CreateModelRequest(model=types_pb2.Model(project=victim, name="planted"))),
            ("MetadataService", "SetAlias",
             metadata_pb2.SetAliasRequest(model=ready.split(":")[0], alias="champion", version=1)),
            ("MetadataService", "FailUpload", metadata_pb2.FailUploadRequest(reference=pending, reason="sabotage")),
            ("MetadataService", "CommitArtifact",
             metadata_pb2.CommitArtifactRequest(reference=pending, artifact=types_pb2.Artifact(files=own_files))),
            ("AuthService", "WhoAmI", auth_pb2.WhoAmIRequest()),
            ("AuthService", "CreateToken", auth_pb2.CreateTokenRequest(description="mine now")),
            ("AuthService", "CreateToken",
             auth_pb2.CreateTokenRequest(principal=target["victim_owner"], description="mine now")),
            ("AuthService", "ListTokens", auth_pb2.ListTokensRequest()),
            ("AuthService", "CreateServingToken", auth_pb2.CreateServingTokenRequest(
                reference=ready, deployment="x", ttl=duration_pb2.Duration(seconds=600))),
            ("RegistryService", "StatArtifact", registry_pb2.StatArtifactRequest(reference=ready)),
            ("RegistryService", "AbortUpload", registry_pb2.AbortUploadRequest(reference=pending, reason="sabotage")),
            ("RegistryService", "CommitUpload", registry_pb2.CommitUploadRequest(reference=pending)),
            ("DeployService", "ListDeployments", deploy_pb2.ListDeploymentsRequest(project=victim)),
            ("DeployService", "CreateDeployment",
             deploy_pb2.CreateDeploymentRequest(name="stolen", model_reference=ready, replicas=1)),
        ]
        credentials = {"(none)": ""}
        credentials.update((name, value) for name, value in env.items() if len(value) >= 16)
        attempts = []
        for name, secret in credentials.items():
            headers = [("modelyard-actor", target["victim_owner"])]
            if secret:
                headers.append(("authorization", "Bearer " + secret))
            for service, method, request in calls:
                attempts.append([name, service + "/" + method, self._try(stubs[service], method, request, headers)])
            download = registry_pb2.DownloadFileRequest(reference=ready, path="model.skops")
            downloaded = self._try_stream(stubs["RegistryService"], download, headers)
            attempts.append([name, "RegistryService/DownloadFile", downloaded])
        self.report = {"environment": sorted(env), "attempts": attempts}

    @staticmethod
    def _try(stub, method, request, headers):
        try:
            getattr(stub, method)(request, metadata=headers, timeout=10)
        except grpc.RpcError as exc:
            return exc.code().name
        return "OK"

    @staticmethod
    def _try_stream(stub, request, headers):
        try:
            for _ in stub.DownloadFile(request, metadata=headers, timeout=10):
                pass
        except grpc.RpcError as exc:
            return exc.code().name
        return "OK"

    def predict(self, inputs):
        return {"report": [json.dumps(self.report)]}
'''
REPORT = Signature(inputs=(TensorSpec("text", "BYTES", (-1,)),), outputs=(TensorSpec("report", "BYTES", (-1,)),))


@pytest.fixture()
def victim(platform: Platform, auth_tokens: AuthTokens, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Another project, the admin's: a READY version and a PENDING_UPLOAD one."""
    project = f"victim-{uuid.uuid4().hex[:8]}"
    with platform.client(auth_tokens.admin) as admin:
        admin.create_project(project)
        directory = tmp_path / "victim"
        directory.mkdir()
        (directory / "model.skops").write_bytes(b"the victim's model")
        ready = admin.push(f"{project}/scorer", directory, framework="sklearn", payload_format="skops").reference
        pending = admin.create_version(f"{project}/scorer").reference
        yield {"project": project, "ready": ready, "pending": pending, "victim_owner": "admin"}


def _tokens_of(admin: modelyard.Client, principal: str) -> list[str]:
    return sorted(t.id for t in admin.tokens(principal, include_revoked=True))


def test_model_code_gets_nothing_it_can_use_beyond_its_own_version(
    platform: Platform, team: Team, victim: dict[str, str], auth_tokens: AuthTokens, tmp_path: Path
) -> None:
    with platform.client(auth_tokens.admin) as admin:
        deploy_tokens = _tokens_of(admin, "modelyard-deploy")
        registry_tokens = _tokens_of(admin, "modelyard-registry")
        history = {e.id for e in admin.audit_events(project=victim["project"])}
    model = f"{team.project}/attack"
    team.owner.create_model(model, kind=ModelKind.CUSTOM)
    directory = tmp_path / "attack"
    directory.mkdir()
    (directory / "attack.py").write_text(ATTACK)
    (directory / "target.json").write_text(json.dumps({**victim, "deploy": platform.deploy.target}))
    reference = team.owner.push(
        model, directory, framework="python", signature=REPORT, serving=Serving(entry_point="attack:Attack")
    ).reference
    name = f"attack-{team.project.rsplit('-', 1)[1]}"
    team.owner.deploy(name, reference)
    try:
        assert team.owner.wait_deployment(name, timeout=120).ready_replicas == 1
        report: dict[str, Any] = json.loads(team.owner.predict(name, {"text": ["go"]})["report"][0])
    finally:
        team.owner.delete_deployment(name)

    environment = report["environment"]
    assert "MLREG_SERVING_TOKEN" in environment  # its serving credential, and nothing of the platform's
    platform_settings = [v for v in environment if v.startswith(("MLREG_DEPLOY", "MLREG_METADATA", "MLREG_REGISTRY"))]
    assert platform_settings == [MARKER_ENV]  # which deployment and replica it is, to find leftovers
    assert not [v for v in environment if "DSN" in v or "AUTH_TOKEN" in v or "SECRET" in v or "PASSWORD" in v]
    tried = {credential for credential, _, _ in report["attempts"]}
    assert {"(none)", "MLREG_SERVING_TOKEN"} <= tried
    succeeded = [
        attempt for attempt in report["attempts"] if attempt[2] not in {"PERMISSION_DENIED", "UNAUTHENTICATED"}
    ]
    assert succeeded == []
    serving = {method: code for credential, method, code in report["attempts"] if credential == "MLREG_SERVING_TOKEN"}
    assert serving["MetadataService/GetModelVersion"] == serving["RegistryService/DownloadFile"] == "PERMISSION_DENIED"
    assert serving["AuthService/CreateToken"] == serving["AuthService/WhoAmI"] == "PERMISSION_DENIED"

    # Nothing of the victim's moved; no token was made for any service.
    with platform.client(auth_tokens.admin) as admin:
        assert admin.get_version(victim["pending"]).status is modelyard.VersionStatus.PENDING_UPLOAD
        assert "champion" not in admin.get_model(f"{victim['project']}/scorer").aliases
        assert [m.name for m in admin.list_models(victim["project"])] == ["scorer"]
        assert _tokens_of(admin, "modelyard-registry") == registry_tokens
        deploy_now = _tokens_of(admin, "modelyard-deploy")
        # The deploy service issued one serving credential (the replica's): scoped, expiring soon.
        issued = [t for t in admin.tokens("modelyard-deploy", include_revoked=True) if t.id not in deploy_tokens]
        assert [t.description for t in issued] == [f"serving {name}: {reference}"]
        assert issued[0].expires_at is not None
        assert len(deploy_now) == len(deploy_tokens) + 1
        # Nothing reached the victim's project far enough to be recorded there.
        assert [e.action for e in admin.audit_events(project=victim["project"]) if e.id not in history] == []
