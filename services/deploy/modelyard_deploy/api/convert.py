"""Deploy messages <-> domain values."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2

from modelyard.v1 import deploy_pb2
from modelyard_common.errors import InvalidArgumentError
from modelyard_deploy.domain.entities import Deployment, Replica, Revision, Runtime

__all__ = ["deployment_to_pb", "replica_to_pb", "revision_to_pb", "runtime_from_pb"]


def _time(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def runtime_from_pb(runtime: deploy_pb2.Runtime.ValueType) -> Runtime | None:
    """None for RUNTIME_UNSPECIFIED: the service's default."""
    if runtime == deploy_pb2.RUNTIME_UNSPECIFIED:
        return None
    if runtime not in deploy_pb2.Runtime.values():
        raise InvalidArgumentError("runtime", f"{runtime} is not a runtime: use PROCESS or KUBERNETES")
    return Runtime(deploy_pb2.Runtime.Name(runtime).removeprefix("RUNTIME_"))


def replica_to_pb(replica: Replica) -> deploy_pb2.Replica:
    return deploy_pb2.Replica(
        id=replica.id,
        revision=replica.revision,
        state=deploy_pb2.ReplicaState.Value(f"REPLICA_STATE_{replica.state.value}"),
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
        runtime=deploy_pb2.Runtime.Value(f"RUNTIME_{deployment.runtime.value}"),
        state=deploy_pb2.DeploymentState.Value(f"DEPLOYMENT_STATE_{deployment.state.value}"),
        status_message=deployment.status_message,
        revision=deployment.revision,
        ready_replicas=deployment.ready_replicas,
        replica_status=[replica_to_pb(r) for r in deployment.replica_status],
        endpoints=deployment.endpoints,
        created_by=deployment.created_by,
        create_time=_time(deployment.created_at),
        update_time=_time(deployment.updated_at),
        trusted_types=deployment.trusted_types,
    )


def revision_to_pb(revision: Revision) -> deploy_pb2.DeploymentRevision:
    return deploy_pb2.DeploymentRevision(
        revision=revision.number,
        model_reference=revision.model_reference,
        version_reference=revision.version_reference,
        actor=revision.actor,
        reason=revision.reason,
        create_time=_time(revision.created_at),
        trusted_types=revision.trusted_types,
    )
