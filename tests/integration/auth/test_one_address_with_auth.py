"""One address is enough, with authentication on: any token learns where the registry and
deploy services are (GetPlatformInfo) and works through them; no token learns nothing, and the
client then does not guess an address; a serving credential (model code) is refused."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from auth_sessions import AuthTokens, Platform, Session, refused
from google.protobuf import duration_pb2

import modelyard
from modelyard.v1 import auth_pb2, metadata_pb2
from modelyard_common.embedded import EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess


@pytest.fixture(autouse=True)
def _only_the_metadata_address(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODELYARD_METADATA_ADDR", "MODELYARD_REGISTRY_ADDR", "MODELYARD_DEPLOY_ADDR", "MODELYARD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def announcing_metadata(
    platform: Platform,
    auth_dsn: str,
    redis_server: EmbeddedRedis,
    auth_tokens: AuthTokens,
    start_service: Callable[[str, dict[str, str]], ServiceProcess],
) -> ServiceProcess:
    """A replica of the platform's metadata service (same database, cache and tokens) that tells
    clients where the platform's registry and deploy services are."""
    settings = {"db_dsn": auth_dsn, "redis_url": redis_server.url, "shutdown_grace_seconds": "2"}
    addresses = {"registry_addr": platform.registry.target, "deploy_addr": platform.deploy.target}
    return start_service("metadata", {**settings, **auth_tokens.metadata_settings(), **addresses})


def test_any_token_finds_the_registry_and_deploy_services_through_the_metadata_address(
    announcing_metadata: ServiceProcess, platform: Platform, auth_tokens: AuthTokens, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    newcomer, project = f"newcomer-{suffix}", f"one-{suffix}"
    with platform.client(auth_tokens.admin) as admin:
        admin.create_principal(newcomer)
        secret = admin.create_token(newcomer, description="tests").secret
    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx" * 1000)
    with modelyard.connect(announcing_metadata.target, token=secret) as client:
        info = client.platform_info()  # a user with no role on any project yet
        assert (info.registry, info.deploy) == (platform.registry.target, platform.deploy.target)
        client.create_project(project)
        version = client.push(f"{project}/scorer", model)
        assert version.status == "READY"
        pulled = client.pull(version.reference, tmp_path / "pulled")
        assert (pulled / "model.onnx").read_bytes() == model.read_bytes()
        assert list(client.list_deployments(project=project)) == []

    with modelyard.connect(announcing_metadata.target) as anonymous:
        with pytest.raises(modelyard.UnauthenticatedError):
            anonymous.platform_info()
        with pytest.raises(modelyard.UnauthenticatedError):
            _ = anonymous.registry  # refused: not replaced by a default address
        with pytest.raises(modelyard.UnauthenticatedError):
            list(anonymous.list_deployments())
        assert {"registry", "deploy"}.isdisjoint(anonymous._transport.channels)

    deploy_service = Session(announcing_metadata.target, auth_tokens.deploy)
    serving = deploy_service.auth(
        "CreateServingToken",
        auth_pb2.CreateServingTokenRequest(
            reference=version.reference, deployment=f"d-{suffix}", ttl=duration_pb2.Duration(seconds=60)
        ),
    )
    deploy_service.close()
    model_code = Session(announcing_metadata.target, serving.secret)
    code, _ = refused(lambda: model_code.metadata("GetPlatformInfo", metadata_pb2.GetPlatformInfoRequest()))
    model_code.close()
    assert code == grpc.StatusCode.PERMISSION_DENIED
