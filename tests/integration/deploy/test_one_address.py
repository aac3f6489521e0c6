"""One address is enough: a client given only the metadata service's address finds the registry
and deploy services through it (GetPlatformInfo), on whatever ports they run; addresses given
explicitly still win; a metadata service that was not told leaves the defaults."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import modelyard
import modelyard.aio
from modelyard.cli import cli
from modelyard_common.embedded import EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess

# Nothing listens there: a client that used it instead of what it was told would fail.
NOWHERE = "127.0.0.1:9"


@pytest.fixture(autouse=True)
def _only_the_metadata_address(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODELYARD_METADATA_ADDR", "MODELYARD_REGISTRY_ADDR", "MODELYARD_DEPLOY_ADDR", "MODELYARD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def announcing(
    metadata_dsn: str, redis_server: EmbeddedRedis, start_service: Callable[[str, dict[str, str]], ServiceProcess]
) -> Callable[[str, str], ServiceProcess]:
    """announcing(registry, deploy): another replica of the session's metadata service (same
    database and cache), telling clients those addresses."""

    def start(registry: str, deploy: str) -> ServiceProcess:
        settings = {"db_dsn": metadata_dsn, "redis_url": redis_server.url, "shutdown_grace_seconds": "2"}
        return start_service("metadata", {**settings, "registry_addr": registry, "deploy_addr": deploy})

    return start


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(uuid.uuid4().bytes * 1000)
    (folder / "config.json").write_text('{"layers": 3}')
    return folder


def test_a_client_given_only_the_metadata_address_pushes_pulls_and_lists_deployments_where_it_is_told(
    announcing: Callable[[str, str], ServiceProcess],
    registry_service: ServiceProcess,
    deploy_service: ServiceProcess,
    model_dir: Path,
    tmp_path: Path,
) -> None:
    assert registry_service.target != "127.0.0.1:7411" and deploy_service.target != "127.0.0.1:7412"
    metadata = announcing(registry_service.target, deploy_service.target)
    project = f"one-{uuid.uuid4().hex[:8]}"
    with modelyard.connect(metadata.target, actor="tester") as client:
        info = client.platform_info()
        assert (info.registry, info.deploy) == (registry_service.target, deploy_service.target)
        assert info.version
        client.create_project(project)
        version = client.push(f"{project}/scorer", model_dir)
        assert version.status == "READY"
        pulled = client.pull(f"{project}/scorer:{version.version}", tmp_path / "pulled")
        for name in ("weights.bin", "config.json"):
            assert (pulled / name).read_bytes() == (model_dir / name).read_bytes()
        assert list(client.list_deployments(project=project)) == []
        assert (client.registry, client.deploy_target) == (registry_service.target, deploy_service.target)

    async def deployments_async() -> tuple[list[modelyard.Deployment], str | None]:
        async with modelyard.aio.connect(metadata.target, actor="tester") as aclient:
            found = [d async for d in aclient.list_deployments(project=project)]
            return found, aclient.deploy_target

    assert asyncio.run(deployments_async()) == ([], deploy_service.target)


def test_the_cli_given_only_the_metadata_address_reaches_the_registry_and_deploy_services(
    announcing: Callable[[str, str], ServiceProcess],
    registry_service: ServiceProcess,
    deploy_service: ServiceProcess,
    model_dir: Path,
) -> None:
    metadata = announcing(registry_service.target, deploy_service.target)
    project = f"one-{uuid.uuid4().hex[:8]}"
    env = {"MODELYARD_METADATA_ADDR": metadata.target, "COLUMNS": "200"}
    for args in (
        ["project", "create", project],
        ["push", f"{project}/scorer", str(model_dir)],
        ["--json", "deployments", "list", "--project", project],
    ):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, (args, result.output)
    assert result.output.strip() == "[]"


def test_addresses_given_explicitly_override_what_the_metadata_service_says(
    announcing: Callable[[str, str], ServiceProcess],
    registry_service: ServiceProcess,
    deploy_service: ServiceProcess,
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metadata = announcing(NOWHERE, NOWHERE)
    project = f"one-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MODELYARD_REGISTRY_ADDR", registry_service.target)
    with modelyard.connect(metadata.target, deploy=deploy_service.target, actor="tester") as client:
        client.create_project(project)
        assert client.push(f"{project}/scorer", model_dir).status == "READY"
        assert list(client.list_deployments(project=project)) == []
        assert client._transport.platform is None  # never asked: both addresses were given
    with modelyard.connect(metadata.target, actor="tester") as told_wrong:
        assert (told_wrong.registry, told_wrong.deploy_target) == (registry_service.target, NOWHERE)


def test_a_metadata_service_not_told_the_addresses_leaves_the_defaults(metadata_service: ServiceProcess) -> None:
    with modelyard.connect(metadata_service.target, actor="tester") as client:
        info = client.platform_info()
        assert (info.registry, info.deploy) == ("", "")
        assert (client.registry, client.deploy_target) == ("127.0.0.1:7411", "127.0.0.1:7412")
