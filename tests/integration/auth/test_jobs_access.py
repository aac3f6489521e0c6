"""Batch scoring jobs with authentication on: editors run and cancel them, viewers read them, a
caller without a role is told no such job exists; the deploy service registers the output for
the job's creator (the audit log naming both), and the workers read the model with a serving
credential of their own."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from auth_sessions import Team
from grpc_standards import metric
from scoring_jobs import push_parquet, push_summer

import modelyard
from modelyard import DatasetUse, JobState
from modelyard_common.embedded.service import ServiceProcess


def test_an_editors_job_writes_its_output_as_that_editor_and_viewers_only_read_jobs(team: Team, tmp_path: Path) -> None:
    model = push_summer(team.owner, f"{team.project}/summer", tmp_path / "model")
    dataset = push_parquet(team.owner, f"{team.project}/input", tmp_path / "data")
    output = f"{team.project}/sums"

    with pytest.raises(modelyard.PermissionDeniedError, match="JobService/CreateJob"):
        team.viewer.create_job(model, dataset=dataset, key="id", output=output)
    job = team.owner.create_job(model, dataset=dataset, key="id", output=output, chunk_rows=400)
    done = team.owner.wait_job(job.id, timeout=120)

    assert (done.state, done.error, done.rows_done, done.created_by) == (
        JobState.SUCCEEDED,
        "",
        1000,
        team.names["owner"],
    )
    version = team.owner.get_dataset_version(done.output_version)
    assert version.author == team.names["owner"]
    assert [(link.model_version, link.use) for link in version.links] == [(model, DatasetUse.PRODUCED_BY)]
    created = [e for e in team.owner.audit_events(project=team.project) if e.action == "dataset_version.create"]
    written = [e for e in created if e.resource == f"dataset:{done.output_version}"]
    assert [(e.actor, e.access) for e in written] == [
        (team.names["owner"], "service modelyard-deploy (batch scoring job output)")
    ]
    assert team.viewer.get_job(job.id).state is JobState.SUCCEEDED
    assert [j.id for j in team.viewer.list_jobs(team.project)] == [job.id]
    with pytest.raises(modelyard.PermissionDeniedError, match="JobService/CancelJob"):
        team.viewer.cancel_job(job.id)


def test_a_job_whose_creator_lost_the_editor_role_fails_registering_its_output(team: Team, tmp_path: Path) -> None:
    model = push_summer(team.owner, f"{team.project}/slow", tmp_path / "model", sleep=0.3)
    dataset = push_parquet(team.owner, f"{team.project}/input", tmp_path / "data")
    editor = team.names["viewer"]
    team.owner.set_project_role(team.project, editor, "editor")
    job = team.viewer.create_job(model, dataset=dataset, key="id", output=f"{team.project}/out", chunk_rows=100)
    team.owner.set_project_role(team.project, editor, "viewer")  # while its chunks are scored

    done = team.owner.wait_job(job.id, timeout=120)

    assert (done.state, done.output_version) == (JobState.FAILED, "")
    assert done.error == (
        f"CreateDataset (a batch scoring job's output, for its creator): {editor} may not; it needs EDITOR on "
        f"project '{team.project}' and has VIEWER"
    )
    with pytest.raises(modelyard.NotFoundError):
        team.owner.get_dataset(f"{team.project}/out")
    denied = [e for e in team.owner.audit_events(project=team.project) if e.action == "access.denied"]
    assert [(e.actor, e.reason) for e in denied] == [("modelyard-deploy", done.error)]


def test_a_cancel_is_decided_by_one_authorize_call_whoever_asks(
    team: Team, auth_metadata: ServiceProcess, tmp_path: Path
) -> None:
    model = push_summer(team.owner, f"{team.project}/summer", tmp_path / "model")
    dataset = push_parquet(team.owner, f"{team.project}/input", tmp_path / "data")
    job = team.owner.create_job(model, dataset=dataset, key="id", output=f"{team.project}/out")
    assert team.owner.wait_job(job.id, timeout=120).state is JobState.SUCCEEDED

    def authorize_calls(cancel: Callable[[], object], error: type[modelyard.ModelyardError]) -> float:
        before = metric(auth_metadata.metrics_url, "modelyard_rpc_requests_total", method="Authorize")
        with pytest.raises(error):
            cancel()
        return metric(auth_metadata.metrics_url, "modelyard_rpc_requests_total", method="Authorize") - before

    finished = modelyard.FailedPreconditionError  # allowed, then refused: the job is SUCCEEDED
    assert authorize_calls(lambda: team.owner.cancel_job(job.id), finished) == 1
    assert authorize_calls(lambda: team.viewer.cancel_job(job.id), modelyard.PermissionDeniedError) == 1
    assert authorize_calls(lambda: team.stranger.cancel_job(job.id), modelyard.NotFoundError) == 1


def test_a_stranger_learns_nothing_of_a_job(team: Team, tmp_path: Path) -> None:
    model = push_summer(team.owner, f"{team.project}/summer", tmp_path / "model")
    dataset = push_parquet(team.owner, f"{team.project}/input", tmp_path / "data")
    job = team.owner.create_job(model, dataset=dataset, key="id", output=f"{team.project}/out")

    for job_id in (job.id, "0" * 32):
        with pytest.raises(modelyard.NotFoundError, match=re.escape(f"id: job '{job_id}' does not exist")):
            team.stranger.get_job(job_id)
        with pytest.raises(modelyard.NotFoundError, match=re.escape(f"id: job '{job_id}' does not exist")):
            team.stranger.cancel_job(job_id)
    with pytest.raises(modelyard.PermissionDeniedError):
        list(team.stranger.list_jobs(team.project))
    assert team.owner.wait_job(job.id, timeout=120).state is JobState.SUCCEEDED
