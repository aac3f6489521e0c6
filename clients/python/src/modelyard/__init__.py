"""Modelyard client: the metadata SDK (sync and asyncio) over the generated gRPC stubs, and
artifact transfers to and from the registry (blocking client only).

    import modelyard

    with modelyard.connect() as client:
        version = client.push("fraud/scorer", "model-dir/", framework="sklearn")
        print(version.reference, version.status)
        client.pull("fraud/scorer@champion", "champion/")
        print(client.get_version("fraud/scorer@champion").metrics["accuracy"])

    predictor = modelyard.load("fraud/scorer@champion")  # numpy in, numpy out
    labels = client.predict("scorer", {"input": features})["predict"]  # a deployment's replicas

``modelyard.InferenceClient(target, model_name)`` calls one Open Inference Protocol server.

The asyncio flavour is ``modelyard.aio.connect()``; errors are in ``modelyard.errors``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelyard._dataset_types import (
    Dataset,
    DatasetColumn,
    DatasetFormat,
    DatasetLink,
    DatasetUse,
    DatasetVersion,
)
from modelyard._job_types import Job, JobInput, JobState
from modelyard._scoring_types import (
    ScoreDefinition,
    ScoreInput,
    ScoreTask,
    ScoreThreshold,
    ScoringRun,
    ScoringRunPage,
    ScoringRunState,
    ScoringTest,
)
from modelyard._types import (
    AliasChange,
    Artifact,
    ArtifactFile,
    ArtifactStatus,
    AuditEvent,
    Authorization,
    ComparedField,
    Comparison,
    Consumption,
    ConsumptionKind,
    Dependency,
    DependencyScope,
    Deployment,
    DeploymentRevision,
    DeploymentRuntime,
    DeploymentState,
    EnsembleMethod,
    Lifecycle,
    Lineage,
    LineageDirection,
    LineageEdge,
    LineageNode,
    MetricPoint,
    MetricRange,
    MetricSource,
    Model,
    ModelFields,
    ModelKind,
    ModelVersion,
    NewToken,
    OwnerCount,
    PlatformInfo,
    Principal,
    PrincipalKind,
    Project,
    ProjectRole,
    ProjectSummary,
    Replica,
    ReplicaState,
    RoleBinding,
    Serving,
    Signature,
    SourceLocation,
    Stage,
    TensorSpec,
    Token,
    TransferPhase,
    TransferProgress,
    UploadSession,
    VersionConsumer,
    VersionConsumers,
    VersionFields,
    VersionPage,
    VersionStatus,
    WhoAmI,
)
from modelyard._webhook_types import (
    WEBHOOK_KINDS,
    DeliveryPage,
    NewWebhookSecret,
    PingResult,
    WebhookDelivery,
    WebhookSubscription,
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

if TYPE_CHECKING:
    from modelyard._client import AsyncClient, Client, connect
    from modelyard._inference import InferenceClient
    from modelyard._load import fetch, load
    from modelyard._tls import TLSConfig

# What imports grpc, the generated stubs or numpy loads on first use: the value types and errors
# above are all that the services' domain code (and a metadata-only script's start) loads.
_LAZY = {
    "AsyncClient": "modelyard._client",
    "Client": "modelyard._client",
    "connect": "modelyard._client",
    "InferenceClient": "modelyard._inference",
    "load": "modelyard._load",
    "fetch": "modelyard._load",
    "TLSConfig": "modelyard._tls",
}

__all__ = [
    "WEBHOOK_KINDS",
    "AliasChange",
    "AlreadyExistsError",
    "Artifact",
    "ArtifactFile",
    "ArtifactStatus",
    "AsyncClient",
    "AuditEvent",
    "Authorization",
    "Client",
    "ComparedField",
    "Comparison",
    "ConflictError",
    "Consumption",
    "ConsumptionKind",
    "DataLossError",
    "Dataset",
    "DatasetColumn",
    "DatasetFormat",
    "DatasetLink",
    "DatasetUse",
    "DatasetVersion",
    "DeadlineExceededError",
    "DeliveryPage",
    "Dependency",
    "DependencyScope",
    "Deployment",
    "DeploymentRevision",
    "DeploymentRuntime",
    "DeploymentState",
    "EnsembleMethod",
    "FailedPreconditionError",
    "InferenceClient",
    "InternalError",
    "InvalidArgumentError",
    "Job",
    "JobInput",
    "JobState",
    "Lifecycle",
    "Lineage",
    "LineageDirection",
    "LineageEdge",
    "LineageNode",
    "MetricPoint",
    "MetricRange",
    "MetricSource",
    "Model",
    "ModelFields",
    "ModelKind",
    "ModelVersion",
    "ModelyardError",
    "NewToken",
    "NewWebhookSecret",
    "NotFoundError",
    "OwnerCount",
    "PermissionDeniedError",
    "PingResult",
    "PlatformInfo",
    "Principal",
    "PrincipalKind",
    "Project",
    "ProjectRole",
    "ProjectSummary",
    "Replica",
    "ReplicaState",
    "RoleBinding",
    "ScoreDefinition",
    "ScoreInput",
    "ScoreTask",
    "ScoreThreshold",
    "ScoringRun",
    "ScoringRunPage",
    "ScoringRunState",
    "ScoringTest",
    "Serving",
    "Signature",
    "SourceLocation",
    "Stage",
    "TLSConfig",
    "TensorSpec",
    "Token",
    "TransferPhase",
    "TransferProgress",
    "UnauthenticatedError",
    "UnavailableError",
    "UploadSession",
    "VersionConsumer",
    "VersionConsumers",
    "VersionFields",
    "VersionPage",
    "VersionStatus",
    "WebhookDelivery",
    "WebhookSubscription",
    "WhoAmI",
    "connect",
    "fetch",
    "load",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
