"""Proto <-> dataclass conversion of the deploy service's messages (see ``_convert``)."""

from __future__ import annotations

from modelyard._convert import optional_time, read_enum
from modelyard._types import Deployment, DeploymentRevision, DeploymentRuntime, DeploymentState, Replica, ReplicaState
from modelyard._wire import ProtoEnum
from modelyard.v1 import deploy_pb2

RUNTIMES = ProtoEnum(DeploymentRuntime, deploy_pb2.Runtime.Value, "RUNTIME_")
DEPLOYMENT_STATES = ProtoEnum(DeploymentState, deploy_pb2.DeploymentState.Value, "DEPLOYMENT_STATE_")
REPLICA_STATES = ProtoEnum(ReplicaState, deploy_pb2.ReplicaState.Value, "REPLICA_STATE_")


def runtime_to_pb(runtime: DeploymentRuntime) -> deploy_pb2.Runtime.ValueType:
    return deploy_pb2.Runtime.ValueType(RUNTIMES.to_pb(runtime))


def replica_from_pb(replica: deploy_pb2.Replica) -> Replica:
    return Replica(
        id=replica.id,
        revision=replica.revision,
        state=read_enum(REPLICA_STATES, replica.state),
        endpoint=replica.endpoint,
        restarts=replica.restarts,
        message=replica.message,
    )


def deployment_from_pb(deployment: deploy_pb2.Deployment) -> Deployment:
    return Deployment(
        name=deployment.name,
        project=deployment.project,
        model_reference=deployment.model_reference,
        version_reference=deployment.version_reference,
        replicas=deployment.replicas,
        runtime=read_enum(RUNTIMES, deployment.runtime),
        state=read_enum(DEPLOYMENT_STATES, deployment.state),
        revision=deployment.revision,
        status_message=deployment.status_message,
        ready_replicas=deployment.ready_replicas,
        replica_status=tuple(replica_from_pb(r) for r in deployment.replica_status),
        endpoints=tuple(deployment.endpoints),
        created_by=deployment.created_by,
        create_time=optional_time(deployment, "create_time"),
        update_time=optional_time(deployment, "update_time"),
        trusted_types=tuple(deployment.trusted_types),
    )


def revision_from_pb(revision: deploy_pb2.DeploymentRevision) -> DeploymentRevision:
    return DeploymentRevision(
        revision=revision.revision,
        model_reference=revision.model_reference,
        version_reference=revision.version_reference,
        actor=revision.actor,
        reason=revision.reason,
        create_time=optional_time(revision, "create_time"),
        trusted_types=tuple(revision.trusted_types),
    )
