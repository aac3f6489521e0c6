"""What the deploy service works with: deployments, their revisions and replicas. Their states
and runtimes are the contract's enums (``modelyard_common.values``), the SDK's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from modelyard_common.values import DeploymentRuntime, DeploymentState, ReplicaState, VersionStatus

__all__ = ["Deployment", "Replica", "Revision", "VersionInfo"]


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """A version as the metadata service resolved it."""

    reference: str  # canonical, "project/model:3"
    project: str
    status: VersionStatus


@dataclass(frozen=True, slots=True)
class Revision:
    """One served version of a deployment; every change of version makes a new one."""

    number: int
    model_reference: str
    version_reference: str
    actor: str
    reason: str
    created_at: datetime | None = None
    trusted_types: tuple[str, ...] = ()
    """Types its inference servers trust in skops files beyond skops' defaults, sorted."""


@dataclass(frozen=True, slots=True)
class Replica:
    """One inference server of a deployment, as the reconciler last saw it.

    ``failures`` counts failures since it was last ready (reset then); ``since`` is when its
    state last changed: the start of its ready deadline, or of its restart backoff.
    """

    id: str
    revision: int
    state: ReplicaState
    since: datetime
    endpoint: str = ""
    restarts: int = 0
    failures: int = 0
    message: str = ""
    pid: int = 0


@dataclass(frozen=True, slots=True)
class Deployment:
    """What a deployment wants (``revision``, ``replicas``) and what runs for it.

    ``serving_revision`` is the last revision whose replicas all became ready (0: none yet):
    while it differs from ``revision`` a rolling change is under way (or failed, keeping it).
    ``generation`` counts changes of what it wants (any deploy service makes them);
    ``observed_generation`` is the one the leader's reconciler last acted on.
    """

    name: str
    project: str
    model_reference: str
    version_reference: str
    replicas: int
    runtime: DeploymentRuntime
    state: DeploymentState
    revision: int
    created_by: str
    status_message: str = ""
    serving_revision: int = 0
    serving_version_reference: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    replica_status: tuple[Replica, ...] = field(default=())
    generation: int = 1
    observed_generation: int = 0
    trusted_types: tuple[str, ...] = ()
    """The current revision's types to trust in skops files (``Revision.trusted_types``)."""
    serving_trusted_types: tuple[str, ...] = ()
    """The serving revision's, as ``serving_version_reference`` is its version."""

    @property
    def ready_replicas(self) -> int:
        """Ready replicas of the current revision."""
        return sum(1 for r in self.replica_status if r.revision == self.revision and r.state is ReplicaState.READY)

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Where inference clients may send requests: every ready replica, which during a
        rolling change (or after a failed one) includes the previous revision's."""
        return tuple(r.endpoint for r in self.replica_status if r.state is ReplicaState.READY and r.endpoint)
