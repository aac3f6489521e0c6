"""Two replicas of every service (metadata, registry, deploy) over the same Postgres, Redis and
SeaweedFS: what is written through one is read through the other at once, numbers and blobs
are not doubled, and one deploy service at a time runs the inference servers, handing over when
it dies."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import boto3
import pytest
from classifiers import push_classifier
from prometheus_client.parser import text_string_to_metric_families
from replica_processes import alive, infer, replica_pids, until

import modelyard
from modelyard import DeploymentState, ReplicaState, Stage
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess
from modelyard_deploy.storage.leadership import LEADER_LOCK

TIMEOUT = 60.0
BUCKET = "replicas-tests"


@dataclass
class Pair:
    """Service A and service B of one kind."""

    a: ServiceProcess
    b: ServiceProcess


@dataclass
class Stack:
    metadata: Pair
    registry: Pair
    deploy: Pair
    deploy_dsn: str

    def client(self, side: str, deploy: ServiceProcess | None = None) -> modelyard.Client:
        """A client of the metadata and registry services of ``side`` ("a" or "b"), and of its
        deploy service unless ``deploy`` says which."""
        return modelyard.connect(
            getattr(self.metadata, side).target,
            registry=getattr(self.registry, side).target,
            deploy=(deploy or getattr(self.deploy, side)).target,
            actor=f"tester-{side}",
        )


def both(start: Callable[[str], ServiceProcess]) -> Pair:
    """Starts A and B at once (each is serving when this returns)."""
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(start, "ab")
    return Pair(a, b)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: EmbeddedPostgres,
    redis_server: EmbeddedRedis,
    seaweedfs: EmbeddedSeaweedFS,
    launch_metadata: Callable[..., ServiceProcess],
    registry_config: Callable[..., dict[str, str]],
    deploy_config: Callable[..., dict[str, str]],
) -> Iterator[Stack]:
    """Two of each service; metadata and registry share a database, the deploy services theirs."""
    root = tmp_path_factory.mktemp("replicas")
    metadata_dsn = postgres.create_database(f"replicas_{uuid.uuid4().hex}")
    deploy_dsn = postgres.create_database(f"replicas_deploy_{uuid.uuid4().hex}")
    started: list[ServiceProcess] = []

    def service(name: str, side: str, settings: dict[str, str]) -> ServiceProcess:
        process = ServiceProcess(name, f"modelyard_{name}", root / f"{name}-{side}", settings)
        started.append(process)
        process.start()
        return process

    try:
        metadata = both(lambda side: launch_metadata(root / f"metadata-{side}", metadata_dsn, redis_server.url))
        started += [metadata.a, metadata.b]
        registry = both(
            lambda side: service(
                "registry",
                side,
                registry_config(
                    seaweedfs, metadata_dsn, metadata_addr=getattr(metadata, side).target, s3_bucket=BUCKET
                ),
            )
        )
        deploy = both(
            lambda side: service(
                "deploy",
                side,
                deploy_config(
                    deploy_dsn,
                    getattr(metadata, side),
                    getattr(registry, side),
                    root / "deploy-data",  # one host: one run and cache folder, like one machine's
                    warm_replicas="1",
                ),
            )
        )
        yield Stack(metadata, registry, deploy, deploy_dsn)
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def project(stack: Stack) -> str:
    name = f"p-{uuid.uuid4().hex[:10]}"
    with stack.client("a") as client:
        client.create_project(name, owner="tester")
    return name


def test_a_write_through_one_metadata_replica_is_read_through_the_other_at_once(
    stack: Stack, project: str, tmp_path: Path
) -> None:
    model = f"{project}/cached"
    (tmp_path / "one.json").write_text("1")
    (tmp_path / "two.json").write_text("2")
    with stack.client("a") as a, stack.client("b") as b:
        a.create_model(model)
        first = a.push(model, tmp_path / "one.json", description="first")  # READY: it may change stage
        second = a.push(model, tmp_path / "two.json")
        reference = f"{model}:{first.version}"
        assert b.get_version(reference).description == "first"  # now in B's cache

        a.update_version(reference, description="changed through A")
        assert b.get_version(reference).description == "changed through A"

        a.set_alias(model, "champion", first.version)
        assert b.get_version(f"{model}@champion").version == first.version
        a.set_alias(model, "champion", second.version)
        assert b.get_version(f"{model}@champion").version == second.version
        assert b.get_version(reference).aliases == ()

        assert b.get_version(reference).stage is Stage.DEVELOPMENT
        a.transition_stage(reference, Stage.VALIDATION, reason="replicas test")
        assert b.get_version(reference).stage is Stage.VALIDATION


def test_versions_created_at_once_through_both_metadata_replicas_get_distinct_numbers(
    stack: Stack, project: str
) -> None:
    model = f"{project}/numbered"
    with stack.client("a") as a, stack.client("b") as b:
        a.create_model(model)
        with ThreadPoolExecutor(16) as pool:
            made = list(pool.map(lambda client: client.create_version(model).version, [a, b] * 20))
        assert sorted(made) == list(range(1, 41))
        assert sorted(v.version for v in b.list_versions(model)) == list(range(1, 41))


def test_the_same_content_pushed_through_both_registries_is_stored_once(
    stack: Stack, seaweedfs: EmbeddedSeaweedFS, project: str, tmp_path: Path
) -> None:
    data = hashlib.shake_256(project.encode()).digest(12 * 1024 * 1024)  # three 5 MiB parts
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.bin").write_bytes(data)
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=seaweedfs.endpoint,
        aws_access_key_id=seaweedfs.access_key,
        aws_secret_access_key=seaweedfs.secret_key,
        region_name=seaweedfs.region,
    )

    def blobs() -> set[str]:
        return {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="blobs/").get("Contents", [])}

    stored_before = blobs()
    with stack.client("a") as a, stack.client("b") as b:
        with ThreadPoolExecutor(2) as pool:
            pushed = list(
                pool.map(lambda side: side[0].push(f"{project}/{side[1]}", tmp_path / "weights"), [(a, "x"), (b, "y")])
            )
        artifacts = [b.artifact(pushed[0].reference), a.artifact(pushed[1].reference)]
        assert [artifact.status.value for artifact in artifacts] == ["READY", "READY"]
        (key,) = {artifact.files[0].storage_key for artifact in artifacts}
        assert blobs() - stored_before == {key}

        pulled_by_b = b.pull(pushed[0].reference, tmp_path / "by-b") / "model.bin"
        pulled_by_a = a.pull(pushed[1].reference, tmp_path / "by-a") / "model.bin"
        for pulled in (pulled_by_b, pulled_by_a):
            assert hashlib.sha256(pulled.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_updates_racing_through_both_deploy_services_make_one_revision_each(
    stack: Stack, project: str, tmp_path: Path
) -> None:
    model, name = f"{project}/raced", f"d-{uuid.uuid4().hex[:12]}"
    with stack.client("a") as a, stack.client("b") as b:
        a.create_model(model)
        first, second = push_classifier(a, model, tmp_path / "v1"), push_classifier(a, model, tmp_path / "v2", True)
        a.deploy(name, first)
        a.update_deployment(name, replicas=0)  # no inference server: only the records race
        with ThreadPoolExecutor(8) as pool:
            updated = list(
                pool.map(
                    lambda side: side[0].update_deployment(name, reference=side[1]), [(a, first), (b, second)] * 10
                )
            )
        revisions = b.deployment_revisions(name)
        assert [r.revision for r in revisions] == list(range(len(revisions), 0, -1))
        assert all(older.version_reference != newer.version_reference for newer, older in itertools.pairwise(revisions))
        assert max(d.revision for d in updated) == len(revisions) > 1
        a.delete_deployment(name)
        with pytest.raises(modelyard.NotFoundError):
            b.get_deployment(name)


def gauges(service: ServiceProcess, name: str) -> dict[str, float]:
    """The samples of gauge ``name`` on ``service``'s /metrics, by their state label ("" unlabelled)."""
    with urllib.request.urlopen(service.metrics_url, timeout=5) as response:
        text = response.read().decode()
    return {
        sample.labels.get("state", ""): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == name
        for sample in family.samples
    }


def leading(service: ServiceProcess) -> bool:
    return gauges(service, "modelyard_deploy_leader") == {"": 1.0}


def end_leader_session(dsn: str) -> int:
    """Ends the Postgres session holding the deploy leader's lock; how many it ended."""

    async def end() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            ended: int = await conn.fetchval(
                "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.granted "
                "AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1",
                LEADER_LOCK >> 32,
                LEADER_LOCK & 0xFFFFFFFF,
            )
            return ended
        finally:
            await conn.close()

    return asyncio.run(end())


def settled(client: modelyard.Client, name: str, replicas: int) -> modelyard.Deployment:
    """AVAILABLE with exactly ``replicas`` replicas, all READY, once the stopped ones are forgotten."""
    until(
        lambda: (
            (found := client.get_deployment(name)).state is DeploymentState.AVAILABLE
            and [r.state for r in found.replica_status] == [ReplicaState.READY] * replicas
        ),
        f"AVAILABLE with {replicas} ready replicas",
    )
    return client.get_deployment(name)


def test_one_deploy_service_at_a_time_runs_the_inference_servers(stack: Stack, project: str, tmp_path: Path) -> None:
    deploy, model, name = stack.deploy, f"{project}/scorer", f"d-{uuid.uuid4().hex[:12]}"
    until(lambda: [leading(deploy.a), leading(deploy.b)].count(True) == 1, "exactly one leader")
    leader, follower = (deploy.a, deploy.b) if leading(deploy.a) else (deploy.b, deploy.a)
    with stack.client("a") as a, stack.client("b") as b:
        a.create_model(model)
        first, second = push_classifier(a, model, tmp_path / "v1"), push_classifier(b, model, tmp_path / "v2", True)

        a.deploy(name, first, replicas=2)
        created = settled(a, name, 2)
        assert set(replica_pids(name)) == {r.id for r in created.replica_status}
        assert gauges(follower, "modelyard_deploy_deployments") == {}  # only the leader counts
        until(lambda: gauges(leader, "modelyard_deploy_deployments").get("AVAILABLE") == 1.0, "counted")

        watched: list[modelyard.Deployment] = []

        def watch() -> None:
            for deployment in a.watch_deployment(name):
                watched.append(deployment)
                if deployment.revision == 2 and deployment.state is DeploymentState.AVAILABLE:
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        updated = b.update_deployment(name, reference=second)
        assert (updated.revision, updated.version_reference) == (2, second)
        rolled = settled(a, name, 2)
        assert [r.revision for r in a.deployment_revisions(name)] == [2, 1]  # rolled once
        assert {infer(endpoint, name).model_version for endpoint in rolled.endpoints} == {"2"}
        assert set(replica_pids(name)) == {r.id for r in rolled.replica_status}
        watcher.join(timeout=TIMEOUT)
        assert not watcher.is_alive()  # A's watch saw the change made through B take effect
        assert watched[0].revision == 1 and {d.version_reference for d in watched} == {first, second}

        scaled = b.update_deployment(name, replicas=3)
        assert (scaled.replicas, scaled.revision) == (3, 2)
        before = settled(a, name, 3)
        assert set(replica_pids(name)) == {r.id for r in before.replica_status}

    # The leader dies (SIGKILL): its inference servers, in sessions of their own, keep running.
    left_ids, left = set(replica_pids(name)), set(replica_pids(name).values())
    leader.stop(grace=0)
    assert all(alive(pid) for pid in left)
    until(lambda: leading(follower), "the follower leading", timeout=15)
    leader, follower = follower, leader
    with stack.client("a", deploy=leader) as survivor:
        until(lambda: not any(alive(pid) for pid in left), "the dead leader's servers stopped", timeout=30)
        until(lambda: not {r.id for r in survivor.get_deployment(name).replica_status} & left_ids, "them forgotten")
        after = settled(survivor, name, 3)
        now = replica_pids(name)
        assert len(now) == 3 and set(now) == {r.id for r in after.replica_status}
        assert not set(now.values()) & left

    # Restarted, as its supervisor would, the dead one is a follower. The leader loses its lock's
    # session: it stops its servers and exits non-zero, and the follower takes over.
    follower.start()
    assert not leading(follower)
    assert end_leader_session(stack.deploy_dsn) == 1
    until(lambda: leader.returncode is not None, "the leader that lost its lock exited", timeout=20)
    assert leader.returncode == 1
    assert "lost the leader lock" in leader.log_path.read_text()
    assert not any(alive(pid) for pid in now.values())
    until(lambda: leading(follower), "the follower leading", timeout=15)
    leader, follower = follower, leader
    follower.start()
    with stack.client("b", deploy=leader) as b:
        after = settled(b, name, 3)
        assert set(replica_pids(name)) == {r.id for r in after.replica_status}

    # Deleted through the follower: no inference server is left when it returns.
    pids = replica_pids(name)
    with stack.client("b", deploy=follower) as through_follower:
        through_follower.delete_deployment(name)
        assert not any(alive(pid) for pid in pids.values())
        assert replica_pids(name) == {}
        with pytest.raises(modelyard.NotFoundError):
            through_follower.get_deployment(name)
