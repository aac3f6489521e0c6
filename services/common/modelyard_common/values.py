"""The contract's values that services' domain code shares with the SDK, defined once in the
client package's grpc-free modules (``modelyard._types``, ``modelyard.paths``) and re-exported
here, so that domain modules import ``modelyard_common`` only: a domain never imports the client
package, and an enum or a path rule is never written twice."""

from __future__ import annotations

from modelyard._dataset_types import DATASET_REFERENCE_PREFIX, dataset_of_registry_reference, registry_reference
from modelyard._job_types import JobInput, JobState
from modelyard._scoring_types import TASK_METRICS, ScoreDefinition, ScoreInput, ScoreTask, ScoreThreshold
from modelyard._types import (
    Consumption,
    ConsumptionKind,
    DeploymentRuntime,
    DeploymentState,
    ProjectRole,
    ReplicaState,
    VersionStatus,
)
from modelyard.paths import MAX_NAME_BYTES, MAX_PATH_BYTES, nested_pair, path_problem

__all__ = [
    "DATASET_REFERENCE_PREFIX",
    "MAX_NAME_BYTES",
    "MAX_PATH_BYTES",
    "TASK_METRICS",
    "Consumption",
    "ConsumptionKind",
    "DeploymentRuntime",
    "DeploymentState",
    "JobInput",
    "JobState",
    "ProjectRole",
    "ReplicaState",
    "ScoreDefinition",
    "ScoreInput",
    "ScoreTask",
    "ScoreThreshold",
    "VersionStatus",
    "dataset_of_registry_reference",
    "nested_pair",
    "path_problem",
    "registry_reference",
]
