"""The reconciler's decisions as pure functions: rolling changes, restarts, scaling, states."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from modelyard_common.values import DeploymentRuntime, DeploymentState, ReplicaState
from modelyard_deploy.domain.entities import Deployment, Replica
from modelyard_deploy.domain.ports import ClusterStatus, Observation
from modelyard_deploy.domain.rollout import Plan, Policy, observe, plan, plan_cluster

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy(ready_timeout=60, restart_backoff=1, max_failures=3)
READY, STARTING, FAILED, STOPPING = (
    ReplicaState.READY,
    ReplicaState.STARTING,
    ReplicaState.FAILED,
    ReplicaState.STOPPING,
)


def replica(id: str, revision: int, state: ReplicaState, age: float = 10, **fields: object) -> Replica:
    return Replica(id, revision, state, NOW - timedelta(seconds=age), **fields)  # type: ignore[arg-type]


def deployment(
    *replicas: Replica,
    revision: int = 1,
    serving: int = 1,
    wanted: int = 2,
    state: DeploymentState = DeploymentState.AVAILABLE,
    message: str = "",
) -> Deployment:
    return Deployment(
        name="scorer",
        project="fraud",
        model_reference="fraud/scorer@champion",
        version_reference="fraud/scorer:1",
        replicas=wanted,
        runtime=DeploymentRuntime.PROCESS,
        state=state,
        revision=revision,
        created_by="tester",
        status_message=message,
        serving_revision=serving,
        replica_status=replicas,
    )


# --- observe -------------------------------------------------------------------------------


def test_a_starting_replica_becomes_ready_with_its_endpoint_and_its_failures_reset() -> None:
    seen = observe(replica("a", 1, STARTING, failures=2), Observation(READY, "127.0.0.1:5000"), NOW, POLICY)
    assert (seen.state, seen.endpoint, seen.failures, seen.since) == (READY, "127.0.0.1:5000", 0, NOW)


def test_an_exit_is_a_failure_with_its_reason_and_counted() -> None:
    seen = observe(
        replica("a", 1, READY, failures=0), Observation(FAILED, message="exited with code 3: boom"), NOW, POLICY
    )
    assert (seen.state, seen.failures, seen.message, seen.since) == (FAILED, 1, "exited with code 3: boom", NOW)


def test_a_replica_past_the_ready_deadline_fails() -> None:
    seen = observe(replica("a", 1, STARTING, age=61), Observation(STARTING), NOW, POLICY)
    assert (seen.state, seen.message, seen.failures) == (FAILED, "not ready after 60 s", 1)
    assert observe(replica("a", 1, STARTING, age=59), Observation(STARTING), NOW, POLICY).state is STARTING


def test_a_replica_the_runtime_does_not_run_is_lost() -> None:
    seen = observe(replica("a", 1, READY), None, NOW, POLICY)
    assert (seen.state, seen.message) == (FAILED, "lost: its runtime does not run it")


def test_a_failed_replica_is_not_counted_twice() -> None:
    failed = replica("a", 1, FAILED, failures=1)
    assert observe(failed, Observation(FAILED, message="again"), NOW, POLICY) is failed


# --- plan: new deployment ------------------------------------------------------------------


def test_a_new_deployment_starts_its_replicas_and_is_pending() -> None:
    assert plan(deployment(serving=0, state=DeploymentState.PENDING), NOW, POLICY) == Plan(
        DeploymentState.PENDING, 0, start=2
    )


def test_a_new_deployment_with_one_of_two_ready_is_progressing() -> None:
    decided = plan(deployment(replica("a", 1, READY), replica("b", 1, STARTING), serving=0), NOW, POLICY)
    assert decided == Plan(DeploymentState.PROGRESSING, 0)


def test_a_new_deployment_all_ready_is_available_and_its_revision_serves() -> None:
    decided = plan(deployment(replica("a", 1, READY), replica("b", 1, READY), serving=0), NOW, POLICY)
    assert decided == Plan(DeploymentState.AVAILABLE, 1)


def test_a_new_deployment_whose_replica_exits_fails_with_the_reason_and_stops_its_replicas() -> None:
    decided = plan(
        deployment(
            replica("a", 1, FAILED, message="exited with code 3: no such file"), replica("b", 1, STARTING), serving=0
        ),
        NOW,
        POLICY,
    )
    assert decided.state is DeploymentState.FAILED
    assert decided.message == "revision 1 cannot start: replica a: exited with code 3: no such file"
    assert set(decided.stop) == {"a", "b"}
    assert (decided.start, decided.restart, decided.serving_revision) == (0, (), 0)


# --- plan: rolling change ------------------------------------------------------------------


def test_a_rolling_change_starts_the_new_replicas_and_keeps_the_old_ones() -> None:
    decided = plan(
        deployment(replica("a", 1, READY), replica("b", 1, READY), revision=2, state=DeploymentState.PROGRESSING),
        NOW,
        POLICY,
    )
    assert decided == Plan(DeploymentState.PROGRESSING, 1, start=2)


def test_old_replicas_stop_only_once_every_new_one_is_ready() -> None:
    old = (replica("a", 1, READY), replica("b", 1, READY))
    half = plan(deployment(*old, replica("c", 2, READY), replica("d", 2, STARTING), revision=2), NOW, POLICY)
    assert (half.state, half.stop, half.serving_revision) == (DeploymentState.PROGRESSING, (), 1)
    done = plan(deployment(*old, replica("c", 2, READY), replica("d", 2, READY), revision=2), NOW, POLICY)
    assert (done.state, set(done.stop), done.serving_revision) == (DeploymentState.AVAILABLE, {"a", "b"}, 2)


def test_a_failed_rolling_change_stops_the_new_replicas_and_keeps_the_old_ones_serving() -> None:
    decided = plan(
        deployment(
            replica("a", 1, READY),
            replica("b", 1, READY),
            replica("c", 2, FAILED, message="exited with code 3: cannot load"),
            replica("d", 2, READY),
            revision=2,
            state=DeploymentState.PROGRESSING,
        ),
        NOW,
        POLICY,
    )
    assert decided.state is DeploymentState.FAILED
    assert decided.message == "revision 2 cannot start: replica c: exited with code 3: cannot load"
    assert set(decided.stop) == {"c", "d"}
    assert decided.serving_revision == 1


def test_after_a_failed_change_nothing_new_starts_until_the_next_one() -> None:
    failed = deployment(
        replica("a", 1, READY), replica("b", 1, READY), revision=2, state=DeploymentState.FAILED, message="why"
    )
    assert plan(failed, NOW, POLICY) == Plan(DeploymentState.FAILED, 1, "why")


def test_replicas_of_an_abandoned_revision_stop() -> None:
    decided = plan(deployment(replica("a", 1, READY), replica("b", 2, STARTING), revision=3, wanted=1), NOW, POLICY)
    assert (decided.stop, decided.start) == (("b",), 1)


# --- plan: restarts and scaling ------------------------------------------------------------


def test_a_crashed_replica_is_restarted_after_the_backoff_and_the_deployment_is_degraded() -> None:
    crashed = replica("b", 1, FAILED, age=0.5, failures=1, message="exited with code -9: killed")
    waiting = plan(deployment(replica("a", 1, READY), crashed), NOW, POLICY)
    assert (waiting.state, waiting.restart) == (DeploymentState.DEGRADED, ())
    assert waiting.message == "1 of 2 replicas ready; replica b is restarting: exited with code -9: killed"
    due = plan(
        deployment(replica("a", 1, READY), dataclasses.replace(crashed, since=NOW - timedelta(seconds=1))), NOW, POLICY
    )
    assert (due.state, due.restart, due.start) == (DeploymentState.DEGRADED, ("b",), 0)


def test_the_backoff_doubles_with_each_failure_in_a_row() -> None:
    second = replica("b", 1, FAILED, age=1.5, failures=2)
    assert plan(deployment(replica("a", 1, READY), second), NOW, POLICY).restart == ()
    assert plan(
        deployment(replica("a", 1, READY), dataclasses.replace(second, since=NOW - timedelta(seconds=2))), NOW, POLICY
    ).restart == ("b",)


def test_a_replica_failing_three_times_in_a_row_is_left_down_and_the_deployment_fails() -> None:
    decided = plan(
        deployment(replica("a", 1, READY), replica("b", 1, FAILED, age=100, failures=3, message="boom")), NOW, POLICY
    )
    assert (decided.state, decided.restart, decided.start) == (DeploymentState.FAILED, (), 0)
    assert decided.message == "replica b failed 3 times in a row: boom"


def test_scaling_up_starts_the_missing_replicas_without_a_new_revision() -> None:
    decided = plan(deployment(replica("a", 1, READY), wanted=3), NOW, POLICY)
    assert decided == Plan(DeploymentState.PROGRESSING, 1, start=2)


def test_scaling_down_stops_failed_then_starting_then_the_newest_ready_replicas() -> None:
    replicas = (
        replica("old", 1, READY, age=100),
        replica("new", 1, READY, age=5),
        replica("starting", 1, STARTING),
        replica("failed", 1, FAILED, failures=1),
    )
    assert plan(deployment(*replicas, wanted=2), NOW, POLICY).stop == ("failed", "starting")
    assert plan(deployment(*replicas, wanted=1), NOW, POLICY).stop == ("failed", "starting", "new")
    to_zero = plan(deployment(*replicas, wanted=0), NOW, POLICY)
    assert (set(to_zero.stop), to_zero.state, to_zero.restart) == (
        {"old", "new", "starting", "failed"},
        DeploymentState.AVAILABLE,
        (),
    )


def test_stopping_replicas_are_left_alone() -> None:
    decided = plan(deployment(replica("a", 1, READY), replica("b", 1, STOPPING), wanted=1), NOW, POLICY)
    assert decided == Plan(DeploymentState.AVAILABLE, 1)


def test_a_deployment_marked_for_deletion_stops_every_live_replica_and_starts_none() -> None:
    decided = plan(
        deployment(
            replica("a", 1, READY),
            replica("b", 2, STARTING),
            replica("c", 1, FAILED, failures=1),
            replica("d", 1, STOPPING),
            revision=2,
            state=DeploymentState.DELETING,
        ),
        NOW,
        POLICY,
    )
    assert decided == Plan(DeploymentState.DELETING, 1, stop=("a", "b", "c"))


# --- plan_cluster: deployments a cluster runs ----------------------------------------------


def _status(replicas: int, updated: int, available: int, failure: str = "", observed: bool = True) -> ClusterStatus:
    return ClusterStatus(observed, replicas, updated, available, failure)


def test_a_cluster_rollout_is_done_when_every_pod_is_new_and_available() -> None:
    rolling = deployment(revision=2, wanted=2, state=DeploymentState.PROGRESSING)
    assert plan_cluster(rolling, _status(2, 2, 2)) == Plan(DeploymentState.AVAILABLE, 2)
    assert plan_cluster(rolling, _status(3, 2, 2)) == Plan(DeploymentState.PROGRESSING, 1)  # an old pod is left
    assert plan_cluster(rolling, _status(2, 2, 2, observed=False)) == Plan(DeploymentState.PROGRESSING, 1)


def test_a_stalled_cluster_rollout_fails_with_the_clusters_reason() -> None:
    rolling = deployment(revision=2, wanted=2, state=DeploymentState.PROGRESSING)
    decided = plan_cluster(rolling, _status(3, 1, 2, failure='ReplicaSet "s-7d9" has timed out progressing.'))
    assert decided == Plan(
        DeploymentState.FAILED, 1, 'revision 2 cannot start: ReplicaSet "s-7d9" has timed out progressing.'
    )


def test_a_new_cluster_deployment_is_pending_then_degraded_when_a_pod_is_lost() -> None:
    assert plan_cluster(deployment(serving=0), _status(2, 2, 0)) == Plan(DeploymentState.PENDING, 0)
    assert plan_cluster(deployment(), _status(2, 2, 1)) == Plan(
        DeploymentState.DEGRADED, 1, "1 of 2 replicas available"
    )
    assert plan_cluster(deployment(wanted=3), _status(2, 2, 2)) == Plan(DeploymentState.PROGRESSING, 1)
