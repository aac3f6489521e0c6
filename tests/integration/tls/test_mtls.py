"""mTLS between every party: clients without a certificate of the platform CA are refused, and
the services' own calls (registry -> metadata, deploy -> metadata and registry, inference
server -> metadata and registry, client -> inference server) work with their certificates."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import skops.io
from classifiers import FEATURES, push_classifier
from click.testing import CliRunner
from conftest import Pki, Platform

import modelyard
from modelyard.cli import cli

TIMEOUT = 120.0


@pytest.mark.parametrize("presented", ["none", "stranger"])
def test_mtls_refuses_a_client_without_a_certificate_of_the_platform_ca(
    mtls_platform: Platform, pki: Pki, presented: str
) -> None:
    tls = pki.client_tls(pki.stranger if presented == "stranger" else None)
    with (
        modelyard.connect(mtls_platform.metadata.target, tls=tls, timeout=5) as client,
        pytest.raises(modelyard.UnavailableError),
    ):
        list(client.list_projects())


def test_mtls_refuses_a_plaintext_client(mtls_platform: Platform) -> None:
    with mtls_platform.connect(None) as client, pytest.raises(modelyard.UnavailableError):
        client.get_deployment("anything")


def test_the_command_line_takes_its_tls_files_from_the_environment(
    mtls_platform: Platform, pki: Pki, project: str
) -> None:
    env = {"MODELYARD_METADATA_ADDR": mtls_platform.metadata.target, "MODELYARD_TLS_CA": str(pki.ca.ca_file)}
    refused = CliRunner().invoke(cli, ["--timeout", "5", "project", "get", project], env=env)
    assert (refused.exit_code, refused.stderr.split(":")[:2]) == (1, ["error", " UNAVAILABLE"])

    env |= {"MODELYARD_TLS_CERT": str(pki.client.cert_file), "MODELYARD_TLS_KEY": str(pki.client.key_file)}
    result = CliRunner().invoke(cli, ["--json", "project", "get", project], env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["name"] == project

    half = CliRunner().invoke(cli, ["--tls-cert", str(pki.client.cert_file), "project", "get", project])
    assert half.exit_code == 2 and "--tls-cert and --tls-key go together" in half.stderr


def test_push_deploy_and_predict_work_end_to_end_under_mtls(
    mtls_platform: Platform, mtls_client: modelyard.Client, pki: Pki, project: str, tmp_path: Path
) -> None:
    # The push commits through registry -> metadata; the deployment resolves the version through
    # deploy -> metadata; its inference server fetches through metadata and registry.
    reference = push_classifier(mtls_client, f"{project}/scorer", tmp_path / "v1")
    assert mtls_client.get_version(reference).status is modelyard.VersionStatus.READY
    name = f"d-{uuid.uuid4().hex[:12]}"
    mtls_client.deploy(name, reference, replicas=1)
    try:
        deployment = mtls_client.wait_deployment(name, timeout=TIMEOUT)
        estimator = skops.io.load(tmp_path / "v1" / "model.skops", trusted=[])
        rows = FEATURES[:5]

        outputs = mtls_client.predict(name, {"input": rows})

        np.testing.assert_array_equal(outputs["predict"], estimator.predict(rows))
        (endpoint,) = deployment.endpoints
        with modelyard.InferenceClient(endpoint, name, tls=pki.client_tls(pki.client)) as server:
            np.testing.assert_array_equal(server.infer({"input": rows})["predict"], estimator.predict(rows))
        with (
            modelyard.InferenceClient(endpoint, name, tls=pki.client_tls(), timeout=5) as server,
            pytest.raises(modelyard.UnavailableError),
        ):
            server.infer({"input": rows})
    finally:
        mtls_client.delete_deployment(name)
