"""Deployments served by real inference servers (``modelyard_serving`` subprocesses), over real
metadata, registry, Postgres and SeaweedFS: create, scale, roll forward and back, crash, fail,
delete."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from classifiers import push_classifier
from replica_processes import alive, infer, push_unloadable, replica_pids, until, waiting_interpreters

import modelyard
import modelyard.aio
from modelyard import DeploymentState, ReplicaState
from modelyard_common.embedded.service import ServiceProcess

TIMEOUT = 120.0
READY = ReplicaState.READY


@pytest.fixture
def model(client: modelyard.Client, project: str) -> str:
    name = f"{project}/scorer"
    client.create_model(name)
    return name


@pytest.fixture
def deployed(client: modelyard.Client, model: str, name: str, tmp_path: Path) -> Iterator[str]:
    """Deployment ``name`` of version 1 of ``model``, AVAILABLE with one replica; deleted afterwards."""
    reference = push_classifier(client, model, tmp_path / "v1")
    client.deploy(name, reference)
    client.wait_deployment(name, timeout=TIMEOUT)
    yield name
    client.delete_deployment(name)


def settled(client: modelyard.Client, name: str) -> modelyard.Deployment:
    """The deployment AVAILABLE once the replicas it stopped are forgotten (they are STOPPING
    until their process is gone)."""
    client.wait_deployment(name, timeout=TIMEOUT)
    until(
        lambda: all(r.state is not ReplicaState.STOPPING for r in client.get_deployment(name).replica_status),
        "stopped replicas forgotten",
    )
    return client.get_deployment(name)


def versions_answered(deployment: modelyard.Deployment) -> set[str]:
    return {infer(endpoint, deployment.name).model_version for endpoint in deployment.endpoints}


def test_a_deployment_becomes_available_with_endpoints_that_answer(
    client: modelyard.Client, model: str, name: str, tmp_path: Path
) -> None:
    reference = push_classifier(client, model, tmp_path / "v1")
    created = client.deploy(name, model, replicas=2)  # "p/m": its latest READY version
    assert (created.state, created.version_reference, created.revision) == (DeploymentState.PENDING, reference, 1)
    assert (created.model_reference, created.created_by, created.project) == (model, "tester", model.split("/")[0])

    available = client.wait_deployment(name, timeout=TIMEOUT)

    assert (available.ready_replicas, len(available.endpoints)) == (2, 2)
    assert {r.state for r in available.replica_status} == {ReplicaState.READY}
    for endpoint in available.endpoints:
        answer = infer(endpoint, name)
        assert (answer.model_name, answer.model_version) == (name, "1")
        assert len(answer.outputs) >= 1
    assert set(replica_pids(name)) == {r.id for r in available.replica_status}
    (revision,) = client.deployment_revisions(name)
    assert (revision.revision, revision.version_reference, revision.actor, revision.reason) == (
        1,
        reference,
        "tester",
        "created",
    )
    assert name in [d.name for d in client.list_deployments(project=model.split("/")[0])]

    pids = replica_pids(name)
    client.delete_deployment(name)
    assert not any(alive(pid) for pid in pids.values())
    assert replica_pids(name) == {}
    with pytest.raises(modelyard.NotFoundError):
        client.get_deployment(name)


def test_scaling_starts_and_stops_processes_without_a_new_revision(client: modelyard.Client, deployed: str) -> None:
    (first,) = replica_pids(deployed).values()
    client.update_deployment(deployed, replicas=3)
    scaled = client.wait_deployment(deployed, timeout=TIMEOUT)
    assert (scaled.revision, scaled.ready_replicas, len(scaled.endpoints)) == (1, 3, 3)
    pids = replica_pids(deployed)
    assert len(pids) == 3 and first in pids.values()

    client.update_deployment(deployed, replicas=1)
    down = settled(client, deployed)
    (kept,) = replica_pids(deployed).values()
    assert [pid for pid in pids.values() if alive(pid)] == [kept]
    assert (down.revision, down.ready_replicas, len(down.replica_status)) == (1, 1, 1)

    client.update_deployment(deployed, replicas=0)
    empty = settled(client, deployed)
    assert replica_pids(deployed) == {}
    assert (empty.replicas, empty.endpoints, empty.replica_status) == (0, (), ())
    assert len(client.deployment_revisions(deployed)) == 1


def test_the_sdks_deploy_rolls_an_existing_deployment_forward_as_the_cli_does(
    metadata_service: ServiceProcess,
    deploy_service: ServiceProcess,
    client: modelyard.Client,
    model: str,
    deployed: str,
    tmp_path: Path,
) -> None:
    v1 = client.get_deployment(deployed).version_reference
    v2 = push_classifier(client, model, tmp_path / "v2", flip=True)
    rolled = client.deploy(deployed, v2, reason="flipped")  # no AlreadyExistsError: a new revision
    assert (rolled.created_revision, rolled.replicas) == (2, 1)  # replicas kept
    done = settled(client, deployed)
    assert (done.revision, done.version_reference) == (2, v2)
    assert versions_answered(done) == {v2.rsplit(":", 1)[1]}
    newest = client.deployment_revisions(deployed)[0]
    assert (newest.revision, newest.version_reference, newest.reason) == (2, v2, "flipped")

    async def back() -> modelyard.Deployment:  # the asyncio client's deploy does the same
        async with modelyard.aio.connect(metadata_service.target, deploy=deploy_service.target, actor="tester") as aio:
            return await aio.deploy(deployed, v1)

    assert asyncio.run(back()).created_revision == 3
    assert settled(client, deployed).version_reference == v1


def test_a_rolling_update_never_interrupts_service_and_rollback_restores_the_version(
    client: modelyard.Client, model: str, deployed: str, tmp_path: Path
) -> None:
    client.update_deployment(deployed, replicas=2)
    client.wait_deployment(deployed, timeout=TIMEOUT)
    old_pids = set(replica_pids(deployed).values())
    v2 = push_classifier(client, model, tmp_path / "v2", flip=True)

    answered: list[str] = []
    failures: list[str] = []
    done = threading.Event()

    def keep_asking() -> None:
        for _ in range(20_000):  # bounded; the rollout takes seconds
            if done.is_set():
                return
            endpoints = client.get_deployment(deployed).endpoints
            if not endpoints:
                failures.append("no endpoint")
                continue
            try:
                answered.append(infer(endpoints[len(answered) % len(endpoints)], deployed).model_version)
            except grpc.RpcError as exc:
                failures.append(repr(exc))

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        until(lambda: len(answered) >= 5, "answering before the update")
        updated = client.update_deployment(deployed, reference=v2, reason="retrained")
        assert (updated.revision, updated.version_reference, updated.state) == (2, v2, DeploymentState.PROGRESSING)
        rolled = client.wait_deployment(deployed, timeout=TIMEOUT)
        until(lambda: not any(alive(pid) for pid in old_pids), "the old replicas stopped")
        seen_after = len(answered)
        until(lambda: len(answered) >= seen_after + 5, "answering after the update")
    finally:
        done.set()
        asker.join()

    assert failures == []
    assert (answered[0], answered[-1], set(answered)) == ("1", "2", {"1", "2"})
    assert (rolled.revision, rolled.version_reference, rolled.ready_replicas) == (2, v2, 2)
    # The old replicas left the endpoints (STOPPING) before they were stopped, then are forgotten.
    assert {(r.revision, r.state) for r in rolled.replica_status} <= {(2, READY), (1, ReplicaState.STOPPING)}
    assert {r.revision for r in settled(client, deployed).replica_status} == {2}
    assert versions_answered(rolled) == {"2"}

    back = client.rollback_deployment(deployed)
    assert (back.revision, back.version_reference) == (3, f"{model}:1")
    restored = client.wait_deployment(deployed, timeout=TIMEOUT)
    assert versions_answered(restored) == {"1"}
    revisions = client.deployment_revisions(deployed)
    assert [(r.revision, r.version_reference, r.reason) for r in revisions] == [
        (3, f"{model}:1", "rollback to revision 1"),
        (2, v2, "retrained"),
        (1, f"{model}:1", "created"),
    ]


def test_a_killed_replica_is_restarted_and_the_deployment_available_again(
    client: modelyard.Client, deployed: str
) -> None:
    ((replica_id, pid),) = replica_pids(deployed).items()
    os.kill(pid, signal.SIGKILL)

    def restarted() -> bool:
        deployment = client.get_deployment(deployed)
        return deployment.state is DeploymentState.AVAILABLE and deployment.replica_status[0].restarts == 1

    until(restarted, "restarted and AVAILABLE")
    deployment = client.get_deployment(deployed)
    (replica,) = deployment.replica_status
    assert (replica.id, replica.restarts, replica.state) == (replica_id, 1, ReplicaState.READY)
    assert replica_pids(deployed)[replica_id] != pid
    assert versions_answered(deployment) == {"1"}


def test_a_version_that_cannot_load_fails_the_update_and_the_old_revision_keeps_serving(
    client: modelyard.Client, model: str, deployed: str, tmp_path: Path
) -> None:
    (serving_pid,) = replica_pids(deployed).values()
    broken = push_unloadable(client, model, tmp_path / "broken")

    client.update_deployment(deployed, reference=broken)
    with pytest.raises(modelyard.FailedPreconditionError) as failed:
        client.wait_deployment(deployed, timeout=TIMEOUT)

    deployment = client.get_deployment(deployed)
    assert deployment.state is DeploymentState.FAILED
    assert (deployment.revision, deployment.version_reference) == (2, broken)
    assert deployment.status_message.startswith("revision 2 cannot start: replica ")
    assert f"exited with code 3: E modelyard_serving.main: cannot serve {broken}: " in deployment.status_message
    assert deployment.status_message in failed.value.message
    until(lambda: list(replica_pids(deployed).values()) == [serving_pid], "only the old replica running")
    until(lambda: [r.revision for r in client.get_deployment(deployed).replica_status] == [1], "new ones forgotten")
    deployment = client.get_deployment(deployed)
    assert (deployment.state, len(deployment.endpoints)) == (DeploymentState.FAILED, 1)
    assert versions_answered(deployment) == {"1"}


def test_watch_sends_the_deployment_then_each_change_and_ends_when_it_is_deleted(
    client: modelyard.Client, model: str, name: str, tmp_path: Path
) -> None:
    client.deploy(name, push_classifier(client, model, tmp_path / "v1"))
    seen: list[modelyard.Deployment] = []
    watcher = threading.Thread(target=lambda: seen.extend(client.watch_deployment(name)))
    watcher.start()
    client.wait_deployment(name, timeout=TIMEOUT)
    until(lambda: seen and seen[-1].state is DeploymentState.AVAILABLE, "AVAILABLE watched")
    client.delete_deployment(name)
    watcher.join(timeout=30)

    assert not watcher.is_alive()  # the stream ended with the deployment
    assert seen[0].state in (DeploymentState.PENDING, DeploymentState.PROGRESSING)
    assert seen[0].revision == 1 and seen[0].name == name


@pytest.mark.parametrize("warm", [False, True], ids=["new-process", "warm-interpreter"])
def test_a_restarted_deploy_service_replaces_the_replicas_a_killed_one_left(
    start_deploy: Callable[..., ServiceProcess],
    fresh_database: str,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
    model: str,
    name: str,
    tmp_path: Path,
    warm: bool,
) -> None:
    first = start_deploy(fresh_database, warm_replicas="1" if warm else "0")
    interpreters = until(lambda: waiting_interpreters(first.pid), "an interpreter waiting") if warm else []
    with modelyard.connect(
        metadata_service.target, registry=registry_service.target, deploy=first.target, actor="tester"
    ) as client:
        client.deploy(name, push_classifier(client, model, tmp_path / "v1"))
        client.wait_deployment(name, timeout=TIMEOUT)
    (left,) = replica_pids(name).values()
    if warm:  # no marker in its environment: the next run knows it by its interpreter's id
        assert [left] == interpreters
        (waiting,) = until(lambda: waiting_interpreters(first.pid), "another interpreter waiting")
    first.stop(grace=0)  # SIGKILL: the replica, in its own session, keeps running
    assert alive(left)
    if warm:
        until(lambda: not alive(waiting), "the waiting interpreter gone with its service (its stdin closed)")

    second = start_deploy(fresh_database)  # it leads once it holds the lock, then stops leftovers
    until(lambda: not alive(left), "the leftover replica stopped", timeout=30)
    until(lambda: replica_pids(name), "a new replica started", timeout=30)
    with modelyard.connect(
        metadata_service.target, registry=registry_service.target, deploy=second.target, actor="tester"
    ) as client:
        again = client.wait_deployment(name, timeout=TIMEOUT)
        assert versions_answered(again) == {"1"}
        (new_pid,) = replica_pids(name).values()
        assert new_pid != left
        client.delete_deployment(name)
    assert not alive(new_pid)
