"""Deploy messages <-> domain values."""

from __future__ import annotations

from modelyard._wire import ProtoEnum, time_to_pb
from modelyard.v1 import deploy_pb2
from modelyard_common.errors import InvalidArgumentError
from modelyard_common.values import DeploymentRuntime, DeploymentState, ReplicaState
from modelyard_deploy.domain.entities import Deployment, Replica, Revision

__all__ = ["deployment_to_pb", "replica_to_pb", "revision_to_pb", "runtime_from_pb"]

_RUNTIMES = ProtoEnum(DeploymentRuntime, deploy_pb2.Runtime.Value, "RUNTIME_")
_DEPLOYMENT_STATES = ProtoEnum(DeploymentState, deploy_pb2.DeploymentState.Value, "DEPLOYMENT_STATE_")
_REPLICA_STATES = ProtoEnum(ReplicaState, deploy_pb2.ReplicaState.Value, "REPLICA_STATE_")


def runtime_from_pb(runtime: deploy_pb2.Runtime.ValueType) -> DeploymentRuntime | None:
    """None for RUNTIME_UNSPECIFIED: the service's default."""
    found = _RUNTIMES.from_pb(runtime)
    if found is None:
        raise InvalidArgumentError("runtime", f"{runtime} is not a runtime: use PROCESS or KUBERNETES")
    return None if found is DeploymentRuntime.UNSPECIFIED else found


def replica_to_pb(replica: Replica) -> deploy_pb2.Replica:
    return deploy_pb2.Replica(
        id=replica.id,
        revision=replica.revision,
        state=deploy_pb2.ReplicaState.ValueType(_REPLICA_STATES.to_pb(replica.state)),
        endpoint=replica.endpoint,
        restarts=replica.restarts,
        message=replica.message,
    )


def deployment_to_pb(deployment: Deployment) -> deploy_pb2.Deployment:
    return deploy_pb2.Deployment(
        name=deployment.name,
        project=deployment.project,
        model_reference=deployment.model_reference,
        version_reference=deployment.version_reference,
        replicas=deployment.replicas,
        runtime=deploy_pb2.Runtime.ValueType(_RUNTIMES.to_pb(deployment.runtime)),
        state=deploy_pb2.DeploymentState.ValueType(_DEPLOYMENT_STATES.to_pb(deployment.state)),
        status_message=deployment.status_message,
        revision=deployment.revision,
        ready_replicas=deployment.ready_replicas,
        replica_status=[replica_to_pb(r) for r in deployment.replica_status],
        endpoints=deployment.endpoints,
        created_by=deployment.created_by,
        create_time=time_to_pb(deployment.created_at) if deployment.created_at else None,
        update_time=time_to_pb(deployment.updated_at) if deployment.updated_at else None,
        trusted_types=deployment.trusted_types,
    )


def revision_to_pb(revision: Revision) -> deploy_pb2.DeploymentRevision:
    return deploy_pb2.DeploymentRevision(
        revision=revision.number,
        model_reference=revision.model_reference,
        version_reference=revision.version_reference,
        actor=revision.actor,
        reason=revision.reason,
        create_time=time_to_pb(revision.created_at) if revision.created_at else None,
        trusted_types=revision.trusted_types,
    )
