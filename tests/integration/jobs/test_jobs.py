"""Batch scoring jobs end to end: JobService on a real deploy service, which streams a dataset
version through predictor worker processes and registers the output through the real registry."""

from __future__ import annotations

import json
import os
import re
import signal
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow
import pyarrow.csv
import pytest
import skops.io
from click.testing import CliRunner
from grpc_standards import metric
from replica_processes import until as eventually
from scoring_jobs import FEATURES, push_parquet, push_summer, table, until
from sklearn.linear_model import LogisticRegression

import modelyard
import modelyard.aio
from modelyard import DatasetUse, JobState, Serving
from modelyard.cli import cli
from modelyard_common.embedded.service import ServiceProcess


def _output(client: modelyard.Client, reference: str) -> pyarrow.Table:
    return pyarrow.Table.from_pandas(client.load_dataset(reference), preserve_index=False)


def test_a_parquet_job_registers_the_predictions_joined_to_the_key_with_lineage(
    client: modelyard.Client, deploy: ServiceProcess, project: str, tmp_path: Path
) -> None:
    data = table()
    features = np.column_stack([data[f"f{i}"].to_numpy() for i in range(FEATURES)])
    estimator = LogisticRegression().fit(features, (features[:, 0] > 0).astype(np.int64))
    (tmp_path / "model").mkdir()
    skops.io.dump(estimator, tmp_path / "model" / "model.skops")
    version = client.push(f"{project}/churn", tmp_path / "model", framework="sklearn", payload_format="skops")
    dataset = push_parquet(client, f"{project}/customers", tmp_path / "data", data)

    job = client.create_job(
        f"{project}/churn", dataset=dataset, key="id", output=f"{project}/scores", chunk_rows=300, workers=2
    )
    assert (job.state, job.version_reference, job.chunks_total, job.rows_total) == (
        JobState.QUEUED,
        version.reference,
        4,
        1000,
    )
    assert [(i.name, i.columns) for i in job.inputs] == [("input", ("f0", "f1", "f2", "f3"))]
    seen = list(client.watch_job(job.id))
    done = seen[-1]

    assert (done.state, done.error, done.chunks_done, done.rows_done) == (JobState.SUCCEEDED, "", 4, 1000)
    assert done.output_version == f"{project}/scores:1"
    assert any(s.state is JobState.RUNNING for s in seen)
    output = _output(client, done.output_version).sort_by("id")
    expected = data.sort_by("id")
    assert output.column_names == ["id", "predict", "predict_proba_0", "predict_proba_1"]
    assert output["id"].to_pylist() == expected["id"].to_pylist()
    ordered = np.column_stack([expected[f"f{i}"].to_numpy() for i in range(FEATURES)])
    assert output["predict"].to_pylist() == estimator.predict(ordered).tolist()
    np.testing.assert_allclose(output["predict_proba_1"].to_numpy(), estimator.predict_proba(ordered)[:, 1])
    registered = client.get_dataset_version(done.output_version)
    assert registered.tags == {"modelyard.job": job.id, "modelyard.input": dataset}
    assert registered.author == "tester"
    assert [(link.model_version, link.use) for link in registered.links] == [
        (version.reference, DatasetUse.PRODUCED_BY)
    ]
    assert [j.id for j in client.list_jobs(project)] == [job.id]
    assert metric(deploy.metrics_url, "modelyard_deploy_jobs_finished_total", state="SUCCEEDED") >= 1
    assert metric(deploy.metrics_url, "modelyard_deploy_jobs_rows_scored_total") >= 1000
    finished = _finished_events(client, project, job.id)
    assert list(finished) == ["job.created", "job.finished"]
    assert finished["job.created"].actor == "tester"
    assert finished["job.finished"].actor == "modelyard-deploy"
    assert finished["job.finished"].after == {
        "job": job.id,
        "state": "SUCCEEDED",
        "version": version.reference,
        "input": dataset,
        "output": f"{project}/scores",
        "output_version": done.output_version,
        "rows_done": 1000,
        "error": "",
        "source_id": finished["job.finished"].after["source_id"],
    }


def _finished_events(client: modelyard.Client, project: str, job_id: str) -> dict[str, modelyard.AuditEvent]:
    """The job's events in the audit log (forwarded by the deploy service), by action, oldest
    first, once job.finished is there."""

    def events() -> dict[str, modelyard.AuditEvent]:
        found = sorted(client.audit_events(project=project, resource=f"job/{job_id}"), key=lambda e: e.id)
        return {e.action: e for e in found} if any(e.action == "job.finished" for e in found) else {}

    return eventually(events, f"job {job_id}'s job.finished event", timeout=30)


def test_a_csv_job_stacks_the_mapped_columns_into_the_model_input(
    client: modelyard.Client, project: str, tmp_path: Path
) -> None:
    model = push_summer(client, f"{project}/summer", tmp_path / "model")
    data = table(250).append_column("note", pyarrow.array(["a,b"] * 250))
    pyarrow.csv.write_csv(data, tmp_path / "input.csv")
    client.create_dataset(f"{project}/rows")
    dataset = client.push_dataset(f"{project}/rows", tmp_path / "input.csv").reference

    job = client.create_job(
        model,
        dataset=dataset,
        key="id",
        output=f"{project}/sums",
        inputs={"x": ["f2", "f0"]},
        chunk_rows=100,
        workers=1,
    )
    done = client.wait_job(job.id, timeout=120)

    assert (done.state, done.chunks_done, done.rows_done) == (JobState.SUCCEEDED, 3, 250)
    output = _output(client, done.output_version)
    assert output.column_names == ["id", "parts_0", "parts_1", "total"]
    assert output["id"].to_pylist() == data["id"].to_pylist()
    expected = (data["f2"].to_numpy() + data["f0"].to_numpy()) * 2
    np.testing.assert_allclose(output["total"].to_numpy(), expected)
    np.testing.assert_allclose(output["parts_0"].to_numpy(), data["f2"].to_numpy())


def test_a_cancelled_job_ends_cancelled_with_no_output_and_no_parts(
    client: modelyard.Client, project: str, tmp_path: Path
) -> None:
    model = push_summer(client, f"{project}/slow", tmp_path / "model", sleep=0.5)
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data")
    job = client.create_job(model, dataset=dataset, key="id", output=f"{project}/out", chunk_rows=50, workers=1)
    until(lambda: client.get_job(job.id), lambda j: j.chunks_done >= 1)

    cancelling = client.cancel_job(job.id, reason="wrong model")
    done = client.wait_job(job.id, timeout=60)

    assert cancelling.state in (JobState.CANCELLING, JobState.CANCELLED)
    assert done.state is JobState.CANCELLED and done.output_version == ""
    with pytest.raises(modelyard.NotFoundError):
        client.get_dataset(f"{project}/out")
    parts = tmp_path / "deploy-data" / "replicas" / "jobs" / job.id
    assert parts.parent.is_dir()  # where parts were
    assert not parts.exists()
    with pytest.raises(modelyard.FailedPreconditionError, match=f"id: job {job.id} is CANCELLED"):
        client.cancel_job(job.id)
    events = _finished_events(client, project, job.id)
    assert [(action, e.actor, e.reason) for action, e in events.items()] == [
        ("job.created", "tester", ""),
        ("job.cancelled", "tester", "wrong model"),
        ("job.finished", "modelyard-deploy", "CANCELLED"),
    ]


def test_a_job_resumes_after_its_leader_is_killed_and_scores_each_chunk_once(
    client: modelyard.Client,
    deploy: ServiceProcess,
    start_jobs: Callable[..., ServiceProcess],
    jobs_dsn: str,
    connect_jobs: Callable[[ServiceProcess], modelyard.Client],
    project: str,
    tmp_path: Path,
) -> None:
    model = push_summer(client, f"{project}/slow", tmp_path / "model", sleep=0.3)
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data")
    job = client.create_job(model, dataset=dataset, key="id", output=f"{project}/out", chunk_rows=50, workers=2)
    before = until(lambda: client.get_job(job.id), lambda j: j.chunks_done >= 4)
    assert before.state is JobState.RUNNING and before.chunks_done < 20
    os.kill(deploy.pid, signal.SIGKILL)
    deploy.stop()

    with connect_jobs(start_jobs(jobs_dsn)) as resumed:
        done = resumed.wait_job(job.id, timeout=180)
        assert (done.state, done.chunks_done, done.rows_done) == (JobState.SUCCEEDED, 20, 1000)
        output = _output(resumed, done.output_version)
    assert sorted(output["id"].to_pylist()) == sorted(table()["id"].to_pylist())


def test_a_leader_starting_removes_the_folders_of_finished_and_unknown_jobs(
    client: modelyard.Client,
    deploy: ServiceProcess,
    start_jobs: Callable[..., ServiceProcess],
    jobs_dsn: str,
    project: str,
    tmp_path: Path,
) -> None:
    model = push_summer(client, f"{project}/summer", tmp_path / "model")
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data")
    job = client.create_job(model, dataset=dataset, key="id", output=f"{project}/out")
    assert client.wait_job(job.id, timeout=120).state is JobState.SUCCEEDED
    deploy.stop()
    # What a leader dying between finishing a job and removing its folder leaves, and others.
    jobs = tmp_path / "deploy-data" / "replicas" / "jobs"
    finished, unknown = jobs / job.id, jobs / uuid.uuid4().hex
    for folder in (finished, unknown, jobs / "batch", jobs / "notes"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "part-00000000.parquet").write_bytes(b"left over")

    start_jobs(jobs_dsn)

    eventually(lambda: not finished.exists() and not unknown.exists(), "the jobs' folders removed", timeout=60)
    assert sorted(p.name for p in jobs.iterdir()) == ["batch", "notes"]  # not named as a job is


async def test_the_async_client_waits_for_a_job_until_it_finishes_or_its_deadline(
    client: modelyard.Client, metadata_service: ServiceProcess, deploy: ServiceProcess, project: str, tmp_path: Path
) -> None:
    model = push_summer(client, f"{project}/slow", tmp_path / "model", sleep=0.2)
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data")

    async with modelyard.aio.connect(metadata_service.target, deploy=deploy.target, actor="tester") as waiting:
        job = await waiting.create_job(model, dataset=dataset, key="id", output=f"{project}/out", chunk_rows=100)
        with pytest.raises(modelyard.DeadlineExceededError) as late:
            await waiting.wait_job(job.id, timeout=0.5)
        done = await waiting.wait_job(job.id, timeout=120)

    assert re.fullmatch(rf"job {job.id} is (QUEUED|RUNNING) after 0.5 s, not finished", late.value.message)
    assert (done.state, done.chunks_done, done.rows_done) == (JobState.SUCCEEDED, 10, 1000)


def test_a_model_that_raises_fails_the_job_with_its_error(
    client: modelyard.Client, project: str, tmp_path: Path
) -> None:
    model = push_summer(client, f"{project}/broken", tmp_path / "model", fail=True)
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data")
    job = client.create_job(model, dataset=dataset, key="id", output=f"{project}/out")

    done = client.wait_job(job.id, timeout=120)

    assert done.state is JobState.FAILED
    assert done.error == "RuntimeError: the model refuses to score"
    with pytest.raises(modelyard.NotFoundError):
        client.get_dataset(f"{project}/out")


def test_a_job_looks_its_input_dataset_up_once(
    client: modelyard.Client, metadata_service: ServiceProcess, project: str, tmp_path: Path
) -> None:
    model = push_summer(client, f"{project}/broken", tmp_path / "model", fail=True)  # no output to look up
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data")

    def lookups() -> float:
        return metric(metadata_service.metrics_url, "modelyard_rpc_requests_total", method="GetDatasetVersion")

    def run_job() -> float:
        """The metadata service's dataset lookups while a job runs."""
        job = client.create_job(model, dataset=dataset, key="id", output=f"{project}/out")
        before = lookups()
        assert client.wait_job(job.id, timeout=120).state is JobState.FAILED
        return lookups() - before

    run_job()  # the first downloads the file (the registry looks the dataset up too)
    assert run_job() == 1  # the second finds it in the cache by its digest


def test_a_worker_that_dies_fails_the_job_saying_so(client: modelyard.Client, project: str, tmp_path: Path) -> None:
    model = push_summer(client, f"{project}/dying", tmp_path / "model", exit=True)
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data")
    job = client.create_job(model, dataset=dataset, key="id", output=f"{project}/out", workers=1)

    done = client.wait_job(job.id, timeout=120)

    assert done.state is JobState.FAILED
    assert done.error.startswith("a predictor worker exited with code 7: ")
    with pytest.raises(modelyard.NotFoundError):
        client.get_dataset(f"{project}/out")


def test_a_model_with_text_outputs_fails_the_job_saying_so(
    client: modelyard.Client, project: str, tmp_path: Path
) -> None:
    data = table()
    features = np.column_stack([data[f"f{i}"].to_numpy() for i in range(FEATURES)])
    estimator = LogisticRegression().fit(features, np.where(features[:, 0] > 0, "high", "low"))
    (tmp_path / "model").mkdir()
    skops.io.dump(estimator, tmp_path / "model" / "model.skops")
    model = client.push(f"{project}/labels", tmp_path / "model", framework="sklearn", payload_format="skops")
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data", data)

    job = client.create_job(model.reference, dataset=dataset, key="id", output=f"{project}/out", workers=1)
    done = client.wait_job(job.id, timeout=120)

    assert (done.state, done.error) == (
        JobState.FAILED,
        "WireError: predict: dtype object cannot travel; only numbers and booleans",
    )


def test_bad_jobs_are_refused_naming_what_is_wrong(client: modelyard.Client, project: str, tmp_path: Path) -> None:
    model = push_summer(client, f"{project}/summer", tmp_path / "model")
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data")
    out = f"{project}/out"

    with pytest.raises(
        modelyard.InvalidArgumentError, match=re.escape(f"inputs[0].columns: dataset {dataset} has no column 'nope'")
    ):
        client.create_job(model, dataset=dataset, key="id", output=out, inputs={"x": ["f0", "nope"]})
    with pytest.raises(
        modelyard.InvalidArgumentError, match=re.escape(f"key_column: dataset {dataset} has no column 'key'")
    ):
        client.create_job(model, dataset=dataset, key="key", output=out)
    with pytest.raises(modelyard.NotFoundError, match=f"dataset '{project}/missing' does not exist"):
        client.create_job(model, dataset=f"{project}/missing:1", key="id", output=out)
    with pytest.raises(modelyard.InvalidArgumentError, match="output_dataset: 'other/out' is not in project"):
        client.create_job(model, dataset=dataset, key="id", output="other/out")
    with pytest.raises(
        modelyard.InvalidArgumentError, match=f"output_dataset: '{project}/Out put' is not 'project/name'"
    ):
        client.create_job(model, dataset=dataset, key="id", output=f"{project}/Out put")
    client.create_version(f"{project}/summer", serving=Serving(entry_point="predictor:Summer"))  # PENDING_UPLOAD
    with pytest.raises(
        modelyard.FailedPreconditionError,
        match=re.escape(f"model_reference: version {project}/summer:2 is PENDING_UPLOAD"),
    ):
        client.create_job(f"{project}/summer:2", dataset=dataset, key="id", output=out)
    with pytest.raises(modelyard.NotFoundError, match="id: job 'nope' does not exist"):
        client.get_job("nope")


def test_cli_runs_a_job_to_the_end_and_reads_it_back(
    client: modelyard.Client,
    metadata_service: ServiceProcess,
    deploy: ServiceProcess,
    project: str,
    tmp_path: Path,
) -> None:
    model = push_summer(client, f"{project}/summer", tmp_path / "model")
    dataset = push_parquet(client, f"{project}/input", tmp_path / "data")
    base = ["--target", metadata_service.target, "--deploy", deploy.target, "--json", "jobs"]

    def run(*args: str) -> Any:
        result = CliRunner().invoke(cli, [*base, *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    job = run("run", model, "--dataset", dataset, "--key", "id", "--output", f"{project}/out",
              "--input", "x=f0,f1", "--chunk-rows", "400", "--wait")  # fmt: skip

    assert (job["state"], job["chunks_done"], job["rows_done"]) == ("SUCCEEDED", 3, 1000)
    assert job["inputs"] == [{"name": "x", "columns": ["f0", "f1"]}]
    assert run("get", job["id"])["output_version"] == f"{project}/out:1"
    assert [j["id"] for j in run("list", project)] == [job["id"]]
    result = CliRunner().invoke(cli, [*base, "cancel", job["id"]])
    assert result.exit_code == 1
    assert f"id: job {job['id']} is SUCCEEDED; only a queued or running job is cancelled" in result.output
