"""Batch scoring jobs on the kubernetes runtime, without a cluster: a real deploy service whose
jobs' pods run here from their rendered Job (local_job_pods.py), each the real worker program
dialling the service over real gRPC, presenting the job's worker secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from grpc_standards import metric
from replica_processes import until as eventually
from scoring_jobs import push_parquet, push_summer, until

import modelyard
from modelyard import JobState
from modelyard_common.embedded.service import ServiceProcess


def _pods_folder(service: ServiceProcess, job_id: str) -> Path:
    return service.data_dir / "replicas" / "pods" / f"modelyard-job-{job_id}"


def _objects(service: ServiceProcess, job_id: str) -> dict[str, Any]:
    """The job's objects as the service created them (``kubectl get -o json``)."""
    path = _pods_folder(service, job_id) / "objects.json"
    return dict(eventually(lambda: path.exists() and json.loads(path.read_text()), f"{path} written", 30))


def _processes_of(job_id: str) -> list[int]:
    """This user's processes that run for ``job_id`` (their environment names it)."""
    marker = f"MLREG_SERVING_BATCH_JOB={job_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _digest(client: modelyard.Client, reference: str) -> str:
    artifact = client.get_dataset_version(reference).artifact
    assert artifact is not None
    (file,) = artifact.files
    return file.sha256


def test_a_job_on_pods_scores_as_local_workers_do(
    client: modelyard.Client,
    pods_client: modelyard.Client,
    pods_deploy: ServiceProcess,
    project: str,
    tmp_path: Path,
) -> None:
    model = push_summer(client, f"{project}/summer", tmp_path / "model")
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data")

    local = client.create_job(model, dataset=dataset, key="id", output=f"{project}/local", chunk_rows=300, workers=2)
    job = pods_client.create_job(model, dataset=dataset, key="id", output=f"{project}/pods", chunk_rows=300, workers=2)
    done = pods_client.wait_job(job.id, timeout=120)
    local_done = client.wait_job(local.id, timeout=120)

    assert (done.state, done.error, done.chunks_done, done.rows_done) == (JobState.SUCCEEDED, "", 4, 1000)
    assert local_done.state is JobState.SUCCEEDED
    assert _digest(client, done.output_version) == _digest(client, local_done.output_version)
    # Two pods ran, each fetched the version into its own models volume and took a stream; the
    # leader ended both streams (OK), and the pods exited.
    pods = sorted(p.name for p in _pods_folder(pods_deploy, job.id).glob("pod-*"))
    assert pods == ["pod-0", "pod-1"]
    for pod in pods:
        assert any((_pods_folder(pods_deploy, job.id) / pod / "models").iterdir())
    served = lambda: metric(  # noqa: E731
        pods_deploy.metrics_url, "modelyard_rpc_requests_total", service="BatchWorkerService", method="Work"
    )
    eventually(lambda: served() == 2, "two Work streams ended", 30)
    ok = metric(pods_deploy.metrics_url, "modelyard_rpc_requests_total", service="BatchWorkerService", code="OK")
    assert ok == 2
    eventually(lambda: not _processes_of(job.id), "the job's pods gone", 30)


def _play_worker(objects: dict[str, Any], tmp_path: Path, **overrides: str) -> subprocess.Popen[str]:
    """Starts the worker program as the job's pod would (its container's variables, the Secret's
    values), but for ``overrides`` (MLREG_SERVING_BATCH_* by their short names)."""
    (container,) = objects["job"]["spec"]["template"]["spec"]["containers"]
    secret = objects["secret"]["stringData"]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        elif "secretKeyRef" in variable["valueFrom"]:
            env[variable["name"]] = secret[variable["valueFrom"]["secretKeyRef"]["key"]]
    env["MLREG_SERVING_BATCH_WORKER"] = "a-test"
    env |= {f"MLREG_SERVING_BATCH_{name.upper()}": value for name, value in overrides.items()}
    command = [sys.executable, *container["command"][1:]]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_workers_without_the_jobs_secret_are_refused_and_the_job_goes_on(
    pods_client: modelyard.Client, pods_deploy: ServiceProcess, project: str, tmp_path: Path
) -> None:
    model = push_summer(pods_client, f"{project}/slow", tmp_path / "model", sleep=0.3)
    dataset = push_parquet(pods_client, f"{project}/input", tmp_path / "data")
    first = pods_client.create_job(model, dataset=dataset, key="id", output=f"{project}/a", chunk_rows=25, workers=1)
    second = pods_client.create_job(model, dataset=dataset, key="id", output=f"{project}/b", chunk_rows=25, workers=1)
    for job in (first, second):
        until(lambda job=job: pods_client.get_job(job.id), lambda j: j.chunks_done >= 1)
    objects = _objects(pods_deploy, first.id)

    played = {
        "wrong": _play_worker(objects, tmp_path, secret="not-the-secret"),
        "other": _play_worker(objects, tmp_path, job=second.id),  # the first job's secret, for the second
        "gone": _play_worker(objects, tmp_path, job="0" * 32),
        "full": _play_worker(objects, tmp_path),  # the first job's own secret: it has its one worker
    }
    ended = {name: (worker.wait(timeout=60), worker.communicate()[1]) for name, worker in played.items()}

    assert {name: code for name, (code, _) in ended.items()} == {"wrong": 4, "other": 4, "gone": 4, "full": 4}
    assert f"PERMISSION_DENIED: job {first.id}: that is not its worker secret" in ended["wrong"][1]
    assert f"PERMISSION_DENIED: job {second.id}: that is not its worker secret" in ended["other"][1]
    assert f"FAILED_PRECONDITION: job '{'0' * 32}' is not running on this replica" in ended["gone"][1]
    assert f"FAILED_PRECONDITION: job {first.id} has all its 1 predictor workers" in ended["full"][1]
    assert all(pods_client.get_job(job.id).state is JobState.RUNNING for job in (first, second))
    for job in (first, second):
        done = pods_client.wait_job(job.id, timeout=120)
        assert (done.state, done.rows_done) == (JobState.SUCCEEDED, 1000)
    refused = metric(
        pods_deploy.metrics_url, "modelyard_rpc_requests_total", service="BatchWorkerService", code="PERMISSION_DENIED"
    )
    assert refused == 2


def test_a_worker_whose_pod_dies_fails_the_job_saying_so(
    pods_client: modelyard.Client, pods_deploy: ServiceProcess, project: str, tmp_path: Path
) -> None:
    model = push_summer(pods_client, f"{project}/dying", tmp_path / "model", exit=True)
    dataset = push_parquet(pods_client, f"{project}/input", tmp_path / "data")
    job = pods_client.create_job(model, dataset=dataset, key="id", output=f"{project}/out", workers=1)

    done = pods_client.wait_job(job.id, timeout=120)

    assert done.state is JobState.FAILED
    assert done.error == (
        f"predictor worker modelyard-job-{job.id}-0 of job {job.id} is gone: "
        "its stream ended (its pod stopped, or its connection broke)"
    )
    with pytest.raises(modelyard.NotFoundError):
        pods_client.get_dataset(f"{project}/out")


def test_a_model_that_raises_on_a_pod_fails_the_job_with_its_error(
    pods_client: modelyard.Client, project: str, tmp_path: Path
) -> None:
    model = push_summer(pods_client, f"{project}/broken", tmp_path / "model", fail=True)
    dataset = push_parquet(pods_client, f"{project}/input", tmp_path / "data")
    job = pods_client.create_job(model, dataset=dataset, key="id", output=f"{project}/out", workers=2)

    done = pods_client.wait_job(job.id, timeout=120)

    assert (done.state, done.error) == (JobState.FAILED, "RuntimeError: the model refuses to score")


def test_cancelling_a_job_ends_its_workers_streams_and_its_pods(
    pods_client: modelyard.Client, pods_deploy: ServiceProcess, project: str, tmp_path: Path
) -> None:
    model = push_summer(pods_client, f"{project}/slow", tmp_path / "model", sleep=0.5)
    dataset = push_parquet(pods_client, f"{project}/input", tmp_path / "data")
    job = pods_client.create_job(model, dataset=dataset, key="id", output=f"{project}/out", chunk_rows=50, workers=2)
    until(lambda: pods_client.get_job(job.id), lambda j: j.chunks_done >= 1)
    assert len(_processes_of(job.id)) == 2
    in_flight = lambda: metric(  # noqa: E731
        pods_deploy.metrics_url, "modelyard_rpc_in_flight", service="BatchWorkerService", method="Work"
    )
    assert in_flight() == 2

    pods_client.cancel_job(job.id, reason="wrong model")
    done = pods_client.wait_job(job.id, timeout=60)

    assert done.state is JobState.CANCELLED
    eventually(lambda: in_flight() == 0, "no Work stream open", 30)
    eventually(lambda: not _processes_of(job.id), "the job's pods gone", 30)
