"""With the platform down (or one service not where the client looks), the SDK's error and the
CLI's one line name the service, the address and what to do, never grpc's own text. Real calls
to closed loopback ports; the CLI as the installed ``modelyard`` script."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import modelyard
import modelyard.aio
from modelyard._transfer import FIRST_CONTACT_SECONDS, PATIENCE_SECONDS

BIN = Path(sys.executable).parent
GRPC_TEXT = "failed to connect to all addresses"


def _closed_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _hint(variable: str) -> str:
    return f"is the platform running (`make run`)? set {variable} if it listens elsewhere"


@pytest.mark.parametrize(
    ("args", "service", "variable"),
    [
        (["project", "list"], "metadata", "MODELYARD_METADATA_ADDR"),
        (["version", "get", "fraud/scorer:1"], "metadata", "MODELYARD_METADATA_ADDR"),
        (["auth", "whoami"], "metadata", "MODELYARD_METADATA_ADDR"),
        (["deployments", "list"], "deploy", "MODELYARD_DEPLOY_ADDR"),
        (["abort", "fraud/scorer:1"], "registry", "MODELYARD_REGISTRY_ADDR"),
    ],
)
def test_the_cli_names_the_service_it_cannot_reach_and_what_to_do(args: list[str], service: str, variable: str) -> None:
    addresses = {name: _closed_address() for name in ("METADATA", "REGISTRY", "DEPLOY")}
    env = {**os.environ, **{f"MODELYARD_{name}_ADDR": address for name, address in addresses.items()}}
    address = addresses[service.upper()]

    ran = subprocess.run(
        [str(BIN / "modelyard"), "--timeout", "10", *args], env=env, capture_output=True, text=True, timeout=60
    )

    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr == (
        f"error: UNAVAILABLE: cannot reach the {service} service at {address} (Connection refused): {_hint(variable)}\n"
    )


def test_the_sdk_error_names_each_service_it_cannot_reach() -> None:
    metadata, deploy, registry = _closed_address(), _closed_address(), _closed_address()
    with modelyard.connect(metadata, deploy=deploy, registry=registry, timeout=10) as client:
        with pytest.raises(modelyard.UnavailableError) as on_metadata:
            client.get_version("fraud/scorer:1")
        with pytest.raises(modelyard.UnavailableError) as on_deploy:
            client.get_deployment("scorer")
        with pytest.raises(modelyard.UnavailableError) as on_registry:
            client.abort_upload("fraud/scorer:1")
        with pytest.raises(modelyard.UnavailableError) as on_a_stream:
            next(client.watch_events())

    assert str(on_metadata.value) == (
        f"cannot reach the metadata service at {metadata} (Connection refused): {_hint('MODELYARD_METADATA_ADDR')}"
    )
    assert str(on_deploy.value) == (
        f"cannot reach the deploy service at {deploy} (Connection refused): {_hint('MODELYARD_DEPLOY_ADDR')}"
    )
    assert str(on_registry.value) == (
        f"cannot reach the registry service at {registry} (Connection refused): {_hint('MODELYARD_REGISTRY_ADDR')}"
    )
    assert str(on_a_stream.value) == str(on_metadata.value)
    for caught in (on_metadata, on_deploy, on_registry):
        assert caught.value.code == "UNAVAILABLE" and GRPC_TEXT not in str(caught.value)


async def test_the_async_sdk_error_names_the_service_it_cannot_reach() -> None:
    metadata, deploy = _closed_address(), _closed_address()
    async with modelyard.aio.connect(metadata, deploy=deploy, timeout=10) as client:
        with pytest.raises(modelyard.UnavailableError) as on_metadata:
            await client.get_project("fraud")
        with pytest.raises(modelyard.UnavailableError) as on_deploy:
            await client.get_deployment("scorer")

    assert str(on_metadata.value).startswith(f"cannot reach the metadata service at {metadata} (Connection refused): ")
    assert str(on_deploy.value).startswith(f"cannot reach the deploy service at {deploy} (Connection refused): ")


def test_an_inference_server_that_cannot_be_reached_is_named() -> None:
    address = _closed_address()
    with (
        modelyard.InferenceClient(address, "scorer", timeout=10) as server,
        pytest.raises(modelyard.UnavailableError) as caught,
    ):
        server.signature()
    assert str(caught.value) == f"cannot reach the inference server at {address} (Connection refused)"


def test_a_services_client_names_that_services_setting_not_a_users_variable() -> None:
    """The registry, deploy service and inference servers call through the SDK; what they cannot
    reach is fixed in their own settings, and the error (relayed to whoever called them) says so."""
    metadata, registry = _closed_address(), _closed_address()
    with modelyard.connect(metadata, registry=registry, timeout=10, settings_prefix="MLREG_SERVING_") as client:
        with pytest.raises(modelyard.UnavailableError) as on_metadata:
            client.get_version("fraud/scorer:1")
        with pytest.raises(modelyard.UnavailableError) as on_registry:
            client.abort_upload("fraud/scorer:1")

    assert str(on_metadata.value) == (
        f"cannot reach the metadata service at {metadata} (Connection refused): "
        "is it running? this service's MLREG_SERVING_METADATA_ADDR names it"
    )
    assert str(on_registry.value).endswith("is it running? this service's MLREG_SERVING_REGISTRY_ADDR names it")
    assert "MODELYARD_" not in str(on_metadata.value) + str(on_registry.value)


def test_a_registry_that_never_answered_is_given_up_on_in_seconds_not_minutes() -> None:
    """Transfers retry an outage for two minutes once the registry has answered (a restart, a
    new pod); one that has not answered this client at all is named after FIRST_CONTACT_SECONDS."""
    registry = _closed_address()
    started = time.monotonic()
    with (
        modelyard.connect(_closed_address(), registry=registry, timeout=10) as client,
        pytest.raises(modelyard.UnavailableError) as caught,
    ):
        client.artifact("fraud/scorer:1")
    waited = time.monotonic() - started

    assert str(caught.value).startswith(f"cannot reach the registry service at {registry} (Connection refused)")
    assert FIRST_CONTACT_SECONDS / 3 <= waited < PATIENCE_SECONDS / 2
