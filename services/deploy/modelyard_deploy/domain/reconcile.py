"""The reconciler: drives the replicas that run towards the ones each deployment wants.

One pass over a deployment reads it, folds in what the runtime sees (``rollout.observe``),
decides (``rollout.plan``), starts and restarts replicas, records the result, then stops the
replicas to stop and forgets them. Passes run every ``interval`` seconds over every deployment,
and at once for a deployment that changed (``poke``: a change notice from any deploy service)
or whose replica did (the runtime's listener). A pass holds the deployment's row lock, so it
never overlaps another pass or a change made through any deploy service. Only the leader runs
the reconciler (``domain.leadership``). A DELETING deployment's replicas stop like any others;
once none is left, the pass deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from modelyard_common.errors import NotFoundError
from modelyard_common.values import DeploymentRuntime, DeploymentState, ReplicaState
from modelyard_deploy.domain.changes import Changes
from modelyard_deploy.domain.entities import Deployment, Replica
from modelyard_deploy.domain.ports import Cluster, DeploymentStore, LockedDeployment, ReplicaRuntime, ReplicaSpec
from modelyard_deploy.domain.rollout import Plan, Policy, observe, plan, plan_cluster

__all__ = ["Reconciler", "ReconcilerObserver"]

logger = logging.getLogger(__name__)


class ReconcilerObserver(Protocol):
    """Where the reconciler reports what metrics count."""

    def restarted(self) -> None: ...
    def rolled_out(self, seconds: float) -> None: ...
    def counted(self, deployments: Counter[DeploymentState], replicas: Counter[ReplicaState]) -> None: ...


class Reconciler:
    def __init__(
        self,
        store: DeploymentStore,
        runtime: ReplicaRuntime,
        changes: Changes,
        policy: Policy,
        observer: ReconcilerObserver,
        cluster: Cluster | None = None,
    ) -> None:
        self._store, self._runtime, self._changes, self._cluster = store, runtime, changes, cluster
        self._policy, self._observer = policy, observer
        self._pending: set[str] = set()
        self._wake = asyncio.Event()
        self._rollouts: dict[str, float] = {}  # deployment -> monotonic start of its rolling change
        self._applied: dict[str, tuple[str, int, int, tuple[str, ...]]] = {}  # cluster deployment -> what was applied
        self._stopping: set[asyncio.Task[None]] = set()
        runtime.set_listener(self.poke)

    def poke(self, name: str) -> None:
        """Asks for a pass over ``name`` soon."""
        self._pending.add(name)
        self._wake.set()

    async def run_forever(self, interval: float) -> None:
        """Passes over every deployment each ``interval`` seconds, and over poked ones between."""
        next_full = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_full - time.monotonic()))
            self._wake.clear()
            names: Iterable[str] = list(self._pending)
            if time.monotonic() >= next_full:
                next_full = time.monotonic() + interval
                names = await self._store.names()
                await self._count(names)
            self._pending.difference_update(names)
            await asyncio.gather(*(self.reconcile_now(name) for name in names))

    async def adopt_or_stop_leftovers(self) -> None:
        """At start: replicas a previous run left running are stopped (not adopted: their
        output and exit status went to a process that is gone), and passes start new ones."""
        for name in await self._store.names():
            with contextlib.suppress(NotFoundError):
                async with self._store.locked(name) as locked:
                    deployment = locked.deployment
                    for replica in deployment.replica_status:
                        if replica.pid and await self._runtime.stop_leftover(replica.pid, name, replica.id):
                            logger.info("stopped a replica left by a previous run", extra={"replica": replica.id})
                    await locked.save_status(
                        deployment.state,
                        deployment.status_message,
                        deployment.serving_revision,
                        (),
                        deployment.observed_generation,
                    )
            self.poke(name)

    async def reconcile_now(self, name: str) -> None:
        """One pass over ``name``; a failure is logged (the next pass tries again), not raised."""
        try:
            await self.reconcile(name)
        except Exception:
            logger.exception("reconciling %s failed; trying again next pass", name)

    async def reconcile(self, name: str) -> None:
        try:
            async with self._store.locked(name) as locked:
                deployment = locked.deployment
                if deployment.runtime is DeploymentRuntime.KUBERNETES:
                    changed = await self._reconcile_cluster(locked)
                    decided = None
                else:
                    changed, decided = await self._reconcile_processes(locked)
        except NotFoundError:
            return
        if changed:
            await self._changes.notify(name)
        if decided is not None and decided.stop:  # in the background: draining and stopping take seconds
            task = asyncio.create_task(self._stop(name, decided.stop))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    async def _reconcile_processes(self, locked: LockedDeployment) -> tuple[bool, Plan]:
        """One pass over a deployment of the process runtime: whether it changed, and the plan."""
        deployment = locked.deployment
        now = datetime.now(UTC)
        replicas = tuple(observe(r, self._runtime.observe(r.id), now, self._policy) for r in deployment.replica_status)
        seen = dataclasses.replace(deployment, replica_status=replicas)
        decided = plan(seen, now, self._policy)
        if decided.state is DeploymentState.DELETING and not deployment.replica_status:
            await locked.delete()
            return True, decided
        after = await self._apply(seen, decided, now)
        self._time_rollout(seen, decided)
        if (decided.state, decided.message, decided.serving_revision, after, deployment.generation) == (
            deployment.state,
            deployment.status_message,
            deployment.serving_revision,
            deployment.replica_status,
            deployment.observed_generation,
        ):
            return False, decided
        await locked.save_status(decided.state, decided.message, decided.serving_revision, after, deployment.generation)
        return True, decided

    async def _reconcile_cluster(self, locked: LockedDeployment) -> bool:
        """The cluster rolls out and restarts by itself: apply what is wanted, read its status.
        Whether the deployment changed."""
        deployment = locked.deployment
        if self._cluster is None:
            raise RuntimeError(f"deployment {deployment.name} runs on Kubernetes, which is not enabled")
        if deployment.state is DeploymentState.DELETING:
            await self._cluster.delete(deployment.name)
            self._applied.pop(deployment.name, None)
            await locked.delete()
            return True
        wanted = (deployment.version_reference, deployment.revision, deployment.replicas, deployment.trusted_types)
        if self._applied.get(deployment.name) != wanted:
            await self._cluster.apply(deployment.name, *wanted)
            self._applied[deployment.name] = wanted
        decided = plan_cluster(deployment, await self._cluster.status(deployment.name))
        self._time_rollout(deployment, decided)
        if (decided.state, decided.message, decided.serving_revision, deployment.generation) == (
            deployment.state,
            deployment.status_message,
            deployment.serving_revision,
            deployment.observed_generation,
        ):
            return False
        await locked.save_status(decided.state, decided.message, decided.serving_revision, (), deployment.generation)
        return True

    async def _apply(self, deployment: Deployment, decided: Plan, now: datetime) -> tuple[Replica, ...]:
        by_id = {r.id: r for r in deployment.replica_status}
        for replica_id in decided.stop:
            by_id[replica_id] = dataclasses.replace(by_id[replica_id], state=ReplicaState.STOPPING, since=now)
        for replica_id in decided.restart:
            old = by_id[replica_id]
            await self._runtime.stop(replica_id)
            spec = ReplicaSpec(deployment.name, replica_id, *deployment_version(deployment, old))
            started = await self._start(spec)
            by_id[replica_id] = dataclasses.replace(
                old, restarts=old.restarts + 1, since=now, endpoint="", **_started(started, old.failures)
            )
            self._observer.restarted()
            logger.info("restarted a replica", extra={"replica": replica_id, "reason": old.message})
        for _ in range(decided.start):
            replica_id = f"{deployment.name}-{deployment.revision}-{secrets.token_hex(2)}"
            spec = ReplicaSpec(deployment.name, replica_id, deployment.version_reference, deployment.trusted_types)
            started = await self._start(spec)
            by_id[replica_id] = Replica(replica_id, deployment.revision, since=now, **_started(started, 0))
        return tuple(by_id.values())

    async def _start(self, spec: ReplicaSpec) -> int | str:
        """The replica's pid, or why it could not start (its serving credential, say, while the
        metadata service is down): recorded as a failure to retry with backoff, so that the
        replicas this pass did start are recorded too."""
        try:
            return await self._runtime.start(spec)
        except Exception as exc:
            logger.warning("could not start a replica", extra={"replica": spec.replica_id, "reason": str(exc)})
            return f"could not start: {exc}"

    async def _stop(self, name: str, replica_ids: Iterable[str]) -> None:
        """Stops replicas (outside the lock: it takes up to the grace period), then forgets them."""
        ids = set(replica_ids)
        await asyncio.sleep(self._policy.drain_seconds)
        await asyncio.gather(*(self._runtime.stop(replica_id) for replica_id in ids))
        try:
            async with self._store.locked(name) as locked:
                deployment = locked.deployment
                left = tuple(r for r in deployment.replica_status if r.id not in ids)
                await locked.save_status(
                    deployment.state,
                    deployment.status_message,
                    deployment.serving_revision,
                    left,
                    deployment.observed_generation,
                )
        except NotFoundError:
            return
        self.poke(name)  # a DELETING deployment with no replica left is deleted by the next pass
        await self._changes.notify(name)

    def _time_rollout(self, deployment: Deployment, decided: Plan) -> None:
        name = deployment.name
        if deployment.revision != deployment.serving_revision:
            self._rollouts.setdefault(name, time.monotonic())
        started = self._rollouts.get(name)
        if started is not None and decided.serving_revision == deployment.revision:
            self._observer.rolled_out(time.monotonic() - started)
        if decided.serving_revision == deployment.revision or decided.state is DeploymentState.FAILED:
            self._rollouts.pop(name, None)

    async def _count(self, names: Iterable[str]) -> None:
        deployments: Counter[DeploymentState] = Counter()
        replicas: Counter[ReplicaState] = Counter()
        for name in names:
            with contextlib.suppress(NotFoundError):
                deployment = await self._store.get(name)
                deployments[deployment.state] += 1
                replicas.update(r.state for r in deployment.replica_status)
        self._observer.counted(deployments, replicas)


def deployment_version(deployment: Deployment, replica: Replica) -> tuple[str, tuple[str, ...]]:
    """The version a replica serves and the types it trusts: its revision's (the serving one's
    during a change)."""
    if replica.revision == deployment.revision:
        return deployment.version_reference, deployment.trusted_types
    return deployment.serving_version_reference, deployment.serving_trusted_types


def _started(started: int | str, failures: int) -> dict[str, Any]:
    """A replica's fields after a start: STARTING with its pid, or FAILED saying why."""
    if isinstance(started, int):
        return {"state": ReplicaState.STARTING, "pid": started}
    return {"state": ReplicaState.FAILED, "pid": 0, "message": started, "failures": failures + 1}
