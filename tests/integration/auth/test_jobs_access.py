"""Batch scoring jobs with authentication on: editors run and cancel them, viewers read them, a
caller without a role is told no such job exists; the deploy service registers the output for
the job's creator (the audit log naming both), and the workers read the model with a serving
credential of their own, on local processes or on a job's pods (run here: local_job_pods.py)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from auth_sessions import AuthTokens, Platform, Team
from grpc_standards import metric
from local_job_pods import deploy_with_local_pods
from scoring_jobs import push_parquet, push_summer

import modelyard
from modelyard import DatasetUse, JobState
from modelyard_common.embedded import EmbeddedPostgres
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


@pytest.fixture
def pods_platform(
    tmp_path: Path,
    platform: Platform,
    postgres: EmbeddedPostgres,
    auth_tokens: AuthTokens,
    deploy_config: Callable[..., dict[str, str]],
) -> Iterator[Platform]:
    """The platform with a deploy service (of its own database) that runs jobs on pods."""
    data = tmp_path / "pods-deploy"
    settings = deploy_config(
        postgres.create_database(f"auth_pods_{uuid.uuid4().hex}"),
        platform.metadata,
        platform.registry,
        data,
        auth_enabled="true",
        auth_token=auth_tokens.deploy,
        jobs_poll_seconds="0.2",
    )
    service = deploy_with_local_pods(data, settings)
    service.start()
    yield Platform(platform.metadata, platform.registry, service)
    service.stop()


def test_a_jobs_pods_read_its_model_with_a_credential_of_the_job_and_present_its_secret(
    pods_platform: Platform, auth_tokens: AuthTokens, tmp_path: Path
) -> None:
    """The interceptor wants a bearer token on every call: a worker's is its job's secret."""
    suffix = uuid.uuid4().hex[:8]
    with pods_platform.client(auth_tokens.admin) as admin:
        admin.create_principal(f"owner-{suffix}")
        token = admin.create_token(f"owner-{suffix}", description="tests").secret
        before = {t.id for t in admin.tokens("modelyard-deploy", include_revoked=True)}
    with pods_platform.client(token) as owner:
        owner.create_project(f"pods-{suffix}")
        model = push_summer(owner, f"pods-{suffix}/summer", tmp_path / "model")
        dataset = push_parquet(owner, f"pods-{suffix}/input", tmp_path / "data")
        job = owner.create_job(model, dataset=dataset, key="id", output=f"pods-{suffix}/out", workers=2)
        done = owner.wait_job(job.id, timeout=120)
    assert (done.state, done.error, done.rows_done) == (JobState.SUCCEEDED, "", 1000)

    objects = json.loads(
        (pods_platform.deploy.data_dir / "replicas" / "pods" / f"modelyard-job-{job.id}" / "objects.json").read_text()
    )
    assert set(objects["secret"]["stringData"]) == {"worker-secret", "token"}
    with pods_platform.client(auth_tokens.admin) as admin:
        issued = [t for t in admin.tokens("modelyard-deploy", include_revoked=True) if t.id not in before]
    # One credential for the job's pods: its version only, for their start deadline (60 s here).
    assert [t.description for t in issued] == [f"serving job-{job.id}: {model}"]
    assert issued[0].expires_at is not None
    assert issued[0].expires_at < datetime.now(UTC) + timedelta(seconds=120)
    with (
        pods_platform.client(objects["secret"]["stringData"]["token"]) as serving,
        pytest.raises(modelyard.PermissionDeniedError),
    ):
        serving.get_dataset_version(dataset)
