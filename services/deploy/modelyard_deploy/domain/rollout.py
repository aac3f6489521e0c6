"""The reconciler's decisions, as pure functions of what a deployment wants and what runs.

``observe`` folds what the runtime sees into a replica's record; ``plan`` says which replicas
to start, restart and stop, and the deployment's state. Rules:

- A rolling change (``revision`` differs from ``serving_revision``) starts the new revision's
  replicas; once every one is ready the new revision serves and the old replicas stop. If one
  exits or misses the ready deadline the change has failed: its replicas stop, the old ones
  keep serving, and the deployment is FAILED with the replica's reason until the next change.
- A replica of the serving revision that fails is restarted after a backoff that doubles
  with each failure in a row; after ``max_failures`` in a row it is left down and the
  deployment is FAILED (its other replicas keep serving).
- Replicas beyond the number wanted stop, failed and starting ones first.
- A DELETING deployment stops every replica (and stays DELETING until it is deleted).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from modelyard_common.values import DeploymentState, ReplicaState
from modelyard_deploy.domain.entities import Deployment, Replica
from modelyard_deploy.domain.ports import ClusterStatus, Observation

__all__ = ["Plan", "Policy", "observe", "plan", "plan_cluster"]

_LOST = Observation(ReplicaState.FAILED, message="lost: its runtime does not run it")
# Which replicas go first when there are too many: failed, then starting, then ready ones.
_SURPLUS_ORDER = {ReplicaState.FAILED: 0, ReplicaState.STARTING: 1, ReplicaState.READY: 2}


@dataclass(frozen=True, slots=True)
class Policy:
    ready_timeout: float
    """Seconds a replica may take to become ready."""
    restart_backoff: float
    """Seconds before the first restart of a failed replica; doubles with each failure in a row."""
    max_failures: int = 3
    """Failures in a row after which a replica is left down."""
    drain_seconds: float = 0.0
    """Time between a replica leaving the endpoints (STOPPING) and its stop, for clients that
    read the endpoints just before to finish sending."""


@dataclass(frozen=True, slots=True)
class Plan:
    state: DeploymentState
    serving_revision: int
    message: str = ""
    start: int = 0
    """New replicas of the current revision to start."""
    restart: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()


def observe(replica: Replica, seen: Observation | None, now: datetime, policy: Policy) -> Replica:
    """The replica's record updated with what its runtime sees now (None: it runs nothing)."""
    if replica.state in (ReplicaState.STOPPING, ReplicaState.FAILED):
        return replica  # until the reconciler restarts or stops it
    seen = seen or _LOST
    if seen.state is ReplicaState.READY:
        if replica.state is ReplicaState.READY and replica.endpoint == seen.endpoint:
            return replica
        return dataclasses.replace(
            replica, state=ReplicaState.READY, since=now, failures=0, message="", endpoint=seen.endpoint
        )
    if seen.state is ReplicaState.FAILED:
        return _failed(replica, now, seen.message)
    if replica.state is ReplicaState.STARTING and now - replica.since > timedelta(seconds=policy.ready_timeout):
        return _failed(replica, now, f"not ready after {policy.ready_timeout:g} s")
    return dataclasses.replace(replica, endpoint=seen.endpoint) if seen.endpoint != replica.endpoint else replica


def _failed(replica: Replica, now: datetime, message: str) -> Replica:
    return dataclasses.replace(
        replica, state=ReplicaState.FAILED, since=now, failures=replica.failures + 1, message=message
    )


def _surplus(replicas: list[Replica], wanted: int) -> list[Replica]:
    ordered = sorted(replicas, key=lambda r: (_SURPLUS_ORDER.get(r.state, 0), -r.since.timestamp()))
    return ordered[: max(0, len(replicas) - wanted)]


def _due(replica: Replica, now: datetime, policy: Policy) -> bool:
    delay = policy.restart_backoff * 2 ** max(0, replica.failures - 1)
    return now - replica.since >= timedelta(seconds=delay)


def plan(deployment: Deployment, now: datetime, policy: Policy) -> Plan:
    """What to do now so that what runs moves towards what ``deployment`` wants."""
    target, serving, wanted = deployment.revision, deployment.serving_revision, deployment.replicas
    live = [r for r in deployment.replica_status if r.state is not ReplicaState.STOPPING]
    if deployment.state is DeploymentState.DELETING:
        return Plan(DeploymentState.DELETING, serving, stop=tuple(r.id for r in live))
    stop = [r.id for r in live if r.revision not in (target, serving)]
    current = [r for r in live if r.revision == target]
    surplus = _surplus(current, wanted)
    stop += [r.id for r in surplus]
    kept = [r for r in current if r not in surplus]
    serving_replicas = [r for r in live if r.revision == serving and r not in surplus]
    down = [r for r in serving_replicas if r.state is ReplicaState.FAILED]
    exhausted = [r for r in down if r.failures >= policy.max_failures]
    restart = tuple(r.id for r in down if r not in exhausted and _due(r, now, policy))
    ready = sum(1 for r in kept if r.state is ReplicaState.READY)
    start = max(0, wanted - len(current))

    if target != serving:
        new_ids = [r.id for r in current]
        if deployment.state is DeploymentState.FAILED:  # this change failed already: wait for the next
            return Plan(
                DeploymentState.FAILED, serving, deployment.status_message, restart=restart, stop=(*stop, *new_ids)
            )
        broken = next((r for r in current if r.state is ReplicaState.FAILED), None)
        if broken is not None:
            message = f"revision {target} cannot start: replica {broken.id}: {broken.message}"
            kept_stop = [i for i in stop if i not in new_ids]
            return Plan(DeploymentState.FAILED, serving, message, restart=restart, stop=(*kept_stop, *new_ids))
        if ready >= wanted:
            old = [r.id for r in live if r.revision != target and r.id not in stop]
            return Plan(DeploymentState.AVAILABLE, target, stop=(*stop, *old))
        state = DeploymentState.PENDING if ready == 0 and serving == 0 else DeploymentState.PROGRESSING
        return Plan(state, serving, start=start, restart=restart, stop=tuple(stop))

    if exhausted:
        worst = exhausted[0]
        message = f"replica {worst.id} failed {worst.failures} times in a row: {worst.message}"
        return Plan(DeploymentState.FAILED, serving, message, start=start, restart=restart, stop=tuple(stop))
    if ready >= wanted:
        return Plan(DeploymentState.AVAILABLE, serving, stop=tuple(stop))
    troubled = next((r for r in kept if r.failures > 0), None)
    if troubled is not None:
        message = f"{ready} of {wanted} replicas ready; replica {troubled.id} is restarting: {troubled.message}"
        return Plan(DeploymentState.DEGRADED, serving, message, start=start, restart=restart, stop=tuple(stop))
    return Plan(DeploymentState.PROGRESSING, serving, start=start, restart=restart, stop=tuple(stop))


def plan_cluster(deployment: Deployment, status: ClusterStatus) -> Plan:
    """The state of a deployment a cluster runs: done when every pod is of the latest revision
    and available (as ``kubectl rollout status`` decides); FAILED when the rollout stalled."""
    wanted, target, serving = deployment.replicas, deployment.revision, deployment.serving_revision
    if status.observed and status.replicas == status.updated == status.available == wanted:
        return Plan(DeploymentState.AVAILABLE, target)
    if status.failure:
        return Plan(DeploymentState.FAILED, serving, f"revision {target} cannot start: {status.failure}")
    if target != serving:
        state = DeploymentState.PENDING if serving == 0 and status.available == 0 else DeploymentState.PROGRESSING
        return Plan(state, serving)
    if status.replicas < wanted:  # scaling up
        return Plan(DeploymentState.PROGRESSING, serving)
    return Plan(DeploymentState.DEGRADED, serving, f"{status.available} of {wanted} replicas available")
