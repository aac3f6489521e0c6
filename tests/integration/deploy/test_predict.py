"""``Client.predict`` and ``modelyard.InferenceClient`` over deployments served by real inference
servers: values, requested outputs, round robin over the replicas, failover when one dies, the
errors when none is ready."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from classifiers import FEATURES, push_classifier
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from replica_processes import alive, replica_pids

import modelyard
from modelyard import Signature, TensorSpec
from modelyard.cli import cli
from modelyard_common.embedded.service import ServiceProcess

TIMEOUT = 120.0


def deploy_two(client: modelyard.Client, project: str, name: str, directory: Path) -> str:
    """Deploys a classifier saved in ``directory`` as ``name`` with two replicas; AVAILABLE when it returns."""
    client.deploy(name, push_classifier(client, f"{project}/scorer", directory), replicas=2)
    client.wait_deployment(name, timeout=TIMEOUT)
    return name


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
    deploy_service: ServiceProcess,
) -> Iterator[tuple[str, Any]]:
    """A deployment of a classifier with two replicas, which the tests that only call it share,
    and the estimator it serves (loaded back from the file that was pushed); deleted afterwards."""
    directory = tmp_path_factory.mktemp("served")
    project, name = f"p-{uuid.uuid4().hex[:10]}", f"d-{uuid.uuid4().hex[:12]}"
    with modelyard.connect(
        metadata_service.target, registry=registry_service.target, deploy=deploy_service.target, actor="tester"
    ) as client:
        client.create_project(project, owner="tester")
        yield deploy_two(client, project, name, directory), skops.io.load(directory / "model.skops", trusted=[])
        client.delete_deployment(name)


@pytest.fixture
def two_replicas(served: tuple[str, Any]) -> str:
    """The shared deployment's name."""
    return served[0]


@pytest.fixture
def estimator(served: tuple[str, Any]) -> Any:
    """The estimator the shared deployment serves."""
    return served[1]


def inferences(deploy_service: ServiceProcess, replica: str) -> float:
    """The successful inferences a replica counted, from its own /metrics page."""
    ports = json.loads((deploy_service.data_dir / "replicas" / replica / "ready.json").read_text())
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['metrics_port']}/metrics", timeout=5) as response:
        families = text_string_to_metric_families(response.read().decode())
    return sum(
        s.value
        for family in families
        for s in family.samples
        if s.name == "modelyard_serving_inference_seconds_count" and s.labels.get("outcome") == "ok"
    )


def test_predict_returns_what_the_model_computes_in_process(
    client: modelyard.Client, two_replicas: str, estimator: Any
) -> None:
    rows = FEATURES[:7]

    outputs = client.predict(two_replicas, {"input": rows})

    assert set(outputs) == {"predict", "predict_proba"}
    np.testing.assert_array_equal(outputs["predict"], estimator.predict(rows))
    np.testing.assert_allclose(outputs["predict_proba"], estimator.predict_proba(rows))
    assert outputs["predict_proba"].dtype == np.float64 and outputs["predict_proba"].shape == (7, 2)
    only = client.predict(two_replicas, {"input": rows}, outputs=["predict_proba"])
    assert list(only) == ["predict_proba"]
    assert client.deployment_signature(two_replicas) == Signature(
        inputs=(TensorSpec("input", "FP64", (-1, 4)),),
        outputs=(TensorSpec("predict", "INT64", (-1,)), TensorSpec("predict_proba", "FP64", (-1, 2))),
    )


def test_predict_spreads_calls_round_robin_over_the_replicas(
    client: modelyard.Client, deploy_service: ServiceProcess, two_replicas: str
) -> None:
    replicas = [r.id for r in client.get_deployment(two_replicas).replica_status]
    before = {r: inferences(deploy_service, r) for r in replicas}

    for _ in range(10):
        client.predict(two_replicas, {"input": FEATURES[:2]})

    assert {r: inferences(deploy_service, r) - before[r] for r in replicas} == {r: 5.0 for r in replicas}


def test_predict_goes_on_through_the_other_replica_when_one_dies(
    client: modelyard.Client, project: str, name: str, tmp_path: Path
) -> None:
    deploy_two(client, project, name, tmp_path / "v1")  # a deployment of its own: a replica is killed
    try:
        client.predict(name, {"input": FEATURES[:1]})  # the endpoints are cached now
        victim = next(iter(replica_pids(name).values()))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(victim) and time.monotonic() < deadline:
            time.sleep(0.05)

        labels = [client.predict(name, {"input": FEATURES[:3]})["predict"].tolist() for _ in range(6)]
    finally:
        client.delete_deployment(name)

    assert len({json.dumps(answer) for answer in labels}) == 1  # every call answered, the same


def test_predict_errors_are_typed(client: modelyard.Client, project: str, name: str, tmp_path: Path) -> None:
    with pytest.raises(modelyard.NotFoundError, match=f"there is no deployment '{name}'"):
        client.predict(name, {"input": FEATURES[:1]})
    reference = push_classifier(client, f"{project}/scorer", tmp_path / "v1")
    client.deploy(name, reference)
    client.wait_deployment(name, timeout=TIMEOUT)
    try:
        with pytest.raises(modelyard.InvalidArgumentError, match=r"input: shape \[1, 3\], the model takes \[-1, 4\]"):
            client.predict(name, {"input": FEATURES[:1, :3]})
        client.update_deployment(name, replicas=0)
        deadline = time.monotonic() + TIMEOUT
        while client.get_deployment(name).replica_status and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(modelyard.UnavailableError, match=f"deployment {name} has no ready replica"):
            client.predict(name, {"input": FEATURES[:1]})
    finally:
        client.delete_deployment(name)


def test_inference_client_calls_one_server(client: modelyard.Client, two_replicas: str, estimator: Any) -> None:
    endpoint = client.get_deployment(two_replicas).endpoints[0]
    with modelyard.InferenceClient(endpoint, two_replicas) as server:
        outputs = server.infer({"input": FEATURES[:4]}, outputs=["predict"])
        assert server.signature().inputs == (TensorSpec("input", "FP64", (-1, 4)),)
    np.testing.assert_array_equal(outputs["predict"], estimator.predict(FEATURES[:4]))
    with modelyard.InferenceClient(endpoint, "other") as wrong, pytest.raises(modelyard.NotFoundError, match="other"):
        wrong.infer({"input": FEATURES[:1]})


def test_the_cli_predicts_from_json_in_the_models_datatypes(
    client: modelyard.Client, two_replicas: str, estimator: Any
) -> None:
    rows = FEATURES[:2].round(3)
    args = ["--target", client.target, "--deploy", client.deploy_target, "--json", "predict", two_replicas]

    result = CliRunner().invoke(cli, [*args, "--input", f"input={json.dumps(rows.tolist())}"])

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert (list(printed), printed["predict"]) == (["predict", "predict_proba"], estimator.predict(rows).tolist())
    np.testing.assert_allclose(printed["predict_proba"], estimator.predict_proba(rows))
    piped = CliRunner().invoke(
        cli, [*args, "--inputs-json", "-", "--output", "predict"], input='{"input": [[1,2,3,4]]}'
    )
    assert (piped.exit_code, json.loads(piped.stdout)) == (0, {"predict": estimator.predict([[1, 2, 3, 4]]).tolist()})
    refused = CliRunner().invoke(cli, [*args, "--input", 'input=[["a", 1, 2, 3]]'])
    assert (refused.exit_code, refused.stderr.strip()) == (
        2,
        "error: INVALID_ARGUMENT: input: cannot be read as FP64 [-1, 4]: could not convert string to float: 'a'",
    )
    ragged = CliRunner().invoke(cli, [*args, "--input", "input=[[1, 2, 3, 4], [5, 6, 7]]"])
    assert (ragged.exit_code, ragged.stderr.strip()) == (
        2,
        "error: INVALID_ARGUMENT: input: row input[1] has 3 values where input[0] has 4 values: expected FP64 [-1, 4]",
    )
    with pytest.raises(modelyard.InvalidArgumentError) as caught:
        client.predict(two_replicas, {"input": [[1.0, 2.0, 3.0, 4.0], [5.0]]})
    assert caught.value.message == "input: row input[1] has 1 value where input[0] has 4 values: expected shape [2, 4]"
