"""Modelyard client: the metadata SDK (sync and asyncio) over the generated gRPC stubs, and
artifact transfers to and from the registry (blocking client only).

    import modelyard

    with modelyard.connect() as client:
        version = client.push("fraud/scorer", "model-dir/", framework="sklearn")
        print(version.reference, version.status)
        client.pull("fraud/scorer@champion", "champion/")
        print(client.get_version("fraud/scorer@champion").metrics["accuracy"])

    predictor = modelyard.load("fraud/scorer@champion")  # numpy in, numpy out

The asyncio flavour is ``modelyard.aio.connect()``; errors are in ``modelyard.errors``.
"""

from __future__ import annotations

from modelyard._client import AsyncClient, Client, connect
from modelyard._load import load
from modelyard._types import (
    AliasChange,
    Artifact,
    ArtifactFile,
    ArtifactStatus,
    AuditEvent,
    ComparedField,
    Comparison,
    Dependency,
    DependencyScope,
    Deployment,
    DeploymentRevision,
    DeploymentRuntime,
    DeploymentState,
    EnsembleMethod,
    Lineage,
    LineageDirection,
    LineageEdge,
    LineageNode,
    MetricPoint,
    MetricRange,
    Model,
    ModelFields,
    ModelKind,
    ModelVersion,
    OwnerCount,
    Project,
    ProjectSummary,
    Replica,
    ReplicaState,
    Serving,
    Signature,
    SourceLocation,
    Stage,
    TensorSpec,
    TransferPhase,
    TransferProgress,
    UploadSession,
    VersionFields,
    VersionStatus,
)
from modelyard.errors import (
    AlreadyExistsError,
    ConflictError,
    DataLossError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    ModelyardError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)

__all__ = [
    "AliasChange",
    "AlreadyExistsError",
    "Artifact",
    "ArtifactFile",
    "ArtifactStatus",
    "AsyncClient",
    "AuditEvent",
    "Client",
    "ComparedField",
    "Comparison",
    "ConflictError",
    "DataLossError",
    "DeadlineExceededError",
    "Dependency",
    "DependencyScope",
    "Deployment",
    "DeploymentRevision",
    "DeploymentRuntime",
    "DeploymentState",
    "EnsembleMethod",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "Lineage",
    "LineageDirection",
    "LineageEdge",
    "LineageNode",
    "MetricPoint",
    "MetricRange",
    "Model",
    "ModelFields",
    "ModelKind",
    "ModelVersion",
    "ModelyardError",
    "NotFoundError",
    "OwnerCount",
    "PermissionDeniedError",
    "Project",
    "ProjectSummary",
    "Replica",
    "ReplicaState",
    "Serving",
    "Signature",
    "SourceLocation",
    "Stage",
    "TensorSpec",
    "TransferPhase",
    "TransferProgress",
    "UnauthenticatedError",
    "UnavailableError",
    "UploadSession",
    "VersionFields",
    "VersionStatus",
    "connect",
    "load",
]
