"""What the domain needs from the outside: storage/ and runtimes/ implement these, main.py picks them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from modelyard_common.errors import ModelyardError
from modelyard_common.values import Consumption, DeploymentState, ProjectRole, ReplicaState
from modelyard_deploy.domain.entities import Deployment, Replica, Revision, VersionInfo

__all__ = [
    "ChangeFeed",
    "Cluster",
    "ClusterStatus",
    "DeploymentStore",
    "Leadership",
    "LockedDeployment",
    "Observation",
    "ReplicaRuntime",
    "ReplicaSpec",
    "VersionCatalog",
]


class LockedDeployment(Protocol):
    """A deployment read under its row lock, held until the ``locked`` block ends; its writes
    commit together then. Writes of what it wants bump its generation (once per block)."""

    @property
    def deployment(self) -> Deployment:
        """As read when the lock was taken."""
        ...

    @property
    def generation(self) -> int:
        """Its generation, counting this block's writes."""
        ...

    async def revisions(self) -> list[Revision]:
        """Its revisions, newest first."""
        ...

    async def add_revision(self, revision: Revision, state: DeploymentState) -> None:
        """Makes ``revision`` the deployment's current one (its version, a fresh state)."""
        ...

    async def set_replicas(self, replicas: int, actor: str, reason: str) -> None: ...
    async def mark_deleting(self, actor: str) -> None:
        """State DELETING: the leader stops its replicas, then deletes it."""
        ...

    async def save_status(
        self,
        state: DeploymentState,
        message: str,
        serving_revision: int,
        replicas: Sequence[Replica],
        observed_generation: int,
    ) -> None:
        """Records what the reconciler saw: the deployment's state, exactly these replicas, and
        the generation its last pass acted on."""
        ...

    async def delete(self) -> None: ...


class DeploymentStore(Protocol):
    """The deploy schema: deployments, revisions, replicas. Raises NotFoundError for a name it
    does not know, AlreadyExistsError for a name taken."""

    async def create(self, deployment: Deployment, revision: Revision) -> Deployment: ...
    async def get(self, name: str) -> Deployment: ...
    async def page(self, project: str, after: str, limit: int) -> list[Deployment]:
        """By name, those after ``after``; of ``project`` only when given."""
        ...

    async def names(self) -> list[str]: ...
    async def revisions(self, name: str) -> list[Revision]:
        """Newest first."""
        ...

    def locked(self, name: str) -> AbstractAsyncContextManager[LockedDeployment]:
        """Deployment ``name`` locked against every other deploy service's changes and passes."""
        ...


class ChangeFeed(Protocol):
    """Change notices shared by every deploy service: the name of a deployment that changed."""

    async def publish(self, name: str) -> None: ...
    async def follow(self, on_change: Callable[[str], None], on_live: Callable[[bool], None]) -> None:
        """Calls ``on_change(name)`` for each notice any deploy service publishes, forever;
        ``on_live(False)`` while notices may be missed (disconnected), ``on_live(True)`` once
        they arrive again."""
        ...


class Leadership(Protocol):
    """Which one of several deploy services runs the reconciler."""

    async def acquire(self) -> None:
        """Returns once this service is the leader (it retries until then)."""
        ...

    async def lost(self) -> str:
        """Returns, saying why, once the leadership is lost."""
        ...


class Access(Protocol):
    """Whether the caller of the RPC being served may act on a project (docs/security.md)."""

    async def require(
        self,
        project: str,
        role: ProjectRole,
        action: str,
        resource: str,
        consumption: Consumption | None = None,
        *,
        unseen: ModelyardError | None = None,
    ) -> str:
        """The caller's name, or UNAUTHENTICATED / PERMISSION_DENIED (``unseen`` instead when
        given and the caller may not read the project); a granted ``consumption`` records the
        caller as a consumer of its version."""
        ...


class VersionCatalog(Protocol):
    """The metadata service, which owns versions and resolves references."""

    async def resolve(self, reference: str) -> VersionInfo: ...


@dataclass(frozen=True, slots=True)
class ReplicaSpec:
    """What a runtime needs to start one replica."""

    deployment: str
    replica_id: str
    version_reference: str
    trusted_types: tuple[str, ...] = ()
    """Types to trust in skops files beyond skops' defaults (MLREG_SERVING_TRUSTED_TYPES)."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What a runtime sees of a replica now; ``message`` says why it FAILED."""

    state: ReplicaState
    endpoint: str = ""
    message: str = ""


class ReplicaRuntime(Protocol):
    """Where replicas run one by one (the process runtime). ``on_change(deployment)`` is called
    when a replica's observation changes (ready, exited), so the reconciler need not wait for its
    next pass."""

    def set_listener(self, on_change: Callable[[str], None]) -> None: ...
    async def start(self, spec: ReplicaSpec) -> int:
        """Starts the replica; returns its handle (a process id)."""
        ...

    def observe(self, replica_id: str) -> Observation | None:
        """None for a replica this runtime does not run (it was lost)."""
        ...

    async def stop(self, replica_id: str) -> None:
        """Stops it and returns once nothing of it runs; a no-op for one it does not run."""
        ...

    async def stop_leftover(self, pid: int, deployment: str, replica_id: str) -> bool:
        """Stops a replica a previous run of the service started, if ``pid`` is still it."""
        ...

    async def close(self) -> None:
        """Stops every replica."""
        ...


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """A cluster workload's rollout, as Kubernetes reports it for a Deployment."""

    observed: bool
    """Whether the cluster has seen the latest spec."""
    replicas: int
    """Pods of any revision."""
    updated: int
    """Pods of the latest revision."""
    available: int
    """Pods ready (for the minimum time)."""
    failure: str = ""
    """Why the rollout stopped progressing, when it did."""


class Cluster(Protocol):
    """A runtime that runs whole deployments (Kubernetes): it rolls out and restarts by itself."""

    async def apply(
        self, name: str, version_reference: str, revision: int, replicas: int, trusted_types: tuple[str, ...] = ()
    ) -> None: ...
    async def status(self, name: str) -> ClusterStatus: ...
    async def delete(self, name: str) -> None:
        """Removes the workload; a no-op when there is none."""
        ...
