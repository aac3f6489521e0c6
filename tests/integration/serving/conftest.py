"""Clients, projects and inference servers for the serving tests, over the session's services."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from serving_models import push_onnx

import modelyard
from modelyard_common.embedded.service import ServiceProcess


@pytest.fixture
def client(metadata_service: ServiceProcess, registry_service: ServiceProcess) -> Iterator[modelyard.Client]:
    with modelyard.connect(metadata_service.target, registry=registry_service.target, actor="tester") as client:
        yield client


@pytest.fixture
def project(client: modelyard.Client) -> str:
    name = f"serve-{uuid.uuid4().hex[:10]}"
    client.create_project(name)
    return name


@pytest.fixture
def model_dir(tmp_path: Path) -> Callable[[str], Path]:
    """model_dir(name): an empty directory to save a model in."""

    def make(name: str) -> Path:
        path = tmp_path / "models" / name
        path.mkdir(parents=True)
        return path

    return make


@pytest.fixture(scope="session")
def serving_config(metadata_service: ServiceProcess, registry_service: ServiceProcess) -> Callable[..., dict[str, str]]:
    """serving_config(reference, cache_dir, **settings): the MLREG_SERVING_* settings of an
    inference server of the session's services."""

    def config(reference: str, cache_dir: Path, **settings: str) -> dict[str, str]:
        return {
            "reference": reference,
            "metadata_addr": metadata_service.target,
            "registry_addr": registry_service.target,
            "cache_dir": str(cache_dir),
            "shutdown_grace_seconds": "2",
            **settings,
        }

    return config


@pytest.fixture
def start_server(
    tmp_path: Path,
    start_service: Callable[[str, dict[str, str]], ServiceProcess],
    serving_config: Callable[..., dict[str, str]],
) -> Callable[..., ServiceProcess]:
    """start_server(reference, **settings): a `modelyard_serving` process, SERVING; stopped afterwards."""

    def start(reference: str, **settings: str) -> ServiceProcess:
        return start_service("serving", serving_config(reference, tmp_path / "cache", **settings))

    return start


@pytest.fixture(scope="package")
def onnx_server(
    tmp_path_factory: pytest.TempPathFactory,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
    serving_config: Callable[..., dict[str, str]],
) -> Iterator[ServiceProcess]:
    """An inference server of an ONNX model (``affine``), which the tests that only call it share."""
    folder = tmp_path_factory.mktemp("onnx")
    project = f"serve-{uuid.uuid4().hex[:10]}"
    (folder / "model").mkdir()
    with modelyard.connect(metadata_service.target, registry=registry_service.target, actor="tester") as client:
        client.create_project(project)
        push_onnx(client, f"{project}/affine", folder / "model")
    server = ServiceProcess(
        "serving", "modelyard_serving", folder / "server", serving_config(f"{project}/affine", folder / "cache")
    )
    server.start()
    yield server
    server.stop()
