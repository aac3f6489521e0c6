"""What the metadata service knows about: projects, models, versions, metrics, audit events."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelyard_common.values import ConsumptionKind
from modelyard_metadata.domain.access import Identity

__all__ = [
    "AuditEvent",
    "Caller",
    "Consumer",
    "Dependency",
    "DependencyScope",
    "EncodedVersion",
    "EnsembleMethod",
    "Lifecycle",
    "LineageEdge",
    "LineageNode",
    "MetricPoint",
    "MetricSource",
    "Model",
    "ModelKind",
    "ModelVersion",
    "NewAuditEvent",
    "NewModel",
    "NewVersion",
    "PlatformInfo",
    "Project",
    "Serving",
    "SourceLocation",
    "Stage",
    "TensorSpec",
    "VersionSpec",
    "VersionStatus",
]


class ModelKind(enum.StrEnum):
    STANDARD = "STANDARD"
    CUSTOM = "CUSTOM"
    ENSEMBLE = "ENSEMBLE"


class Stage(enum.StrEnum):
    DEVELOPMENT = "DEVELOPMENT"
    VALIDATION = "VALIDATION"
    PRODUCTION = "PRODUCTION"
    ARCHIVED = "ARCHIVED"


class VersionStatus(enum.StrEnum):
    PENDING_UPLOAD = "PENDING_UPLOAD"
    READY = "READY"
    FAILED = "FAILED"


class DependencyScope(enum.StrEnum):
    BUILD = "BUILD"
    RUN = "RUN"


class EnsembleMethod(enum.StrEnum):
    AVERAGE = "AVERAGE"
    VOTE = "VOTE"
    CHAIN = "CHAIN"


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    """Where clients reach the platform's other services ("host:port"; empty: not known here),
    and this service's version."""

    registry_address: str = ""
    deploy_address: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True)
class Serving:
    """How an inference server runs a version: a CUSTOM model's entry point ("module:attribute"),
    an ENSEMBLE's method and member versions (canonical references once stored)."""

    entry_point: str = ""
    ensemble_method: EnsembleMethod | None = None
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the actor and request id for the audit log, the authenticated identity
    (None while authentication is off) and, once a change is allowed, how (``access``).
    ``on_behalf_of``: the user a service says it calls for, which counts only where that
    service's duty lets it act for a user (the registry's commits)."""

    actor: str
    request_id: str = ""
    identity: Identity | None = None
    access: str = ""
    on_behalf_of: str = ""


@dataclass(frozen=True, slots=True)
class Consumer:
    """A principal consuming a version, with its teams now; ``detail`` is the deployment's name
    for a DEPLOYMENT, empty for a DOWNLOAD."""

    principal: str
    kind: ConsumptionKind
    detail: str
    teams: tuple[str, ...]
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True, slots=True)
class SourceLocation:
    uri: str = ""
    revision: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    description: str
    owner: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Model:
    id: int
    project: str
    name: str
    description: str
    owner: str
    team: str
    kind: ModelKind
    tags: dict[str, str]
    code_location: SourceLocation
    data_location: SourceLocation
    archived: bool
    latest_version: int
    aliases: dict[str, int]
    created_at: datetime
    updated_at: datetime
    lifecycle: Lifecycle | None
    """None while the model has no version."""

    @property
    def full_name(self) -> str:
        return f"{self.project}/{self.name}"


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """A model's lifecycle at a glance: its version aliased "champion", else its newest."""

    version: int
    stage: Stage
    status: VersionStatus


@dataclass(frozen=True, slots=True)
class NewModel:
    """A model about to be inserted: what its creator chose; the store adds its id, counters and times."""

    project: str
    name: str
    description: str
    owner: str
    team: str
    kind: ModelKind
    tags: dict[str, str]
    code_location: SourceLocation
    data_location: SourceLocation

    @property
    def full_name(self) -> str:
        return f"{self.project}/{self.name}"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Dependency:
    library: str
    version: str
    scope: DependencyScope


@dataclass(frozen=True, slots=True)
class MetricSource:
    """The scoring run that computed a metric: its id, its test and the dataset it scored."""

    scoring_run: str
    scoring_test_id: str
    scoring_test: str
    dataset: str


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One logged value: a number, or a structured value such as feature importance; ``source``
    when a scoring run computed it (None: logged by a client)."""

    name: str
    number: float | None
    structured: dict[str, Any] | None
    step: int
    time: datetime
    source: MetricSource | None = None


@dataclass(frozen=True, slots=True)
class ModelVersion:
    id: int
    model_id: int
    project: str
    model: str
    version: int
    stage: Stage
    status: VersionStatus
    status_message: str
    framework: str
    payload_format: str
    author: str
    description: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    hyperparameters: dict[str, Any]
    dependencies: tuple[Dependency, ...]
    produced_by: tuple[str, ...]
    code_location: SourceLocation
    data_location: SourceLocation
    tags: dict[str, str]
    aliases: tuple[str, ...]
    metrics: tuple[MetricPoint, ...]
    artifact: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    serving: Serving = Serving()

    @property
    def reference(self) -> str:
        return f"{self.project}/{self.model}:{self.version}"

    @property
    def model_name(self) -> str:
        return f"{self.project}/{self.model}"


@dataclass(frozen=True, slots=True)
class EncodedVersion:
    """A version as the wire carries it: its whole message, serialized by the api layer (see
    ports.WireFormat), which reads answer with as they are; the domain never looks inside."""

    reference: str
    message: bytes


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version about to be inserted under the number its model handed out; the store adds its
    id and times, and records ``parents`` (the versions it was produced by, an ensemble's members)
    as its lineage."""

    model_id: int
    project: str
    model: str
    version: int
    stage: Stage
    status: VersionStatus
    framework: str
    payload_format: str
    author: str
    description: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    hyperparameters: dict[str, Any]
    dependencies: tuple[Dependency, ...]
    code_location: SourceLocation
    data_location: SourceLocation
    tags: dict[str, str]
    serving: Serving
    parents: tuple[ModelVersion, ...]

    @property
    def model_name(self) -> str:
        return f"{self.project}/{self.model}"


@dataclass(frozen=True, slots=True)
class LineageNode:
    reference: str
    stage: Stage
    status: VersionStatus
    depth: int


@dataclass(frozen=True, slots=True, order=True)
class LineageEdge:
    parent: str
    child: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    time: datetime
    actor: str
    action: str
    project: str
    resource: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str = ""
    request_id: str = ""
    access: str = ""


@dataclass(frozen=True, slots=True)
class NewAuditEvent:
    """An audit event about to be written in the same transaction as its change."""

    caller: Caller
    action: str
    project: str
    resource: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """What a caller supplies when registering a version; the server adds the rest."""

    framework: str = ""
    payload_format: str = ""
    author: str = ""
    description: str = ""
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    hyperparameters: dict[str, Any] | None = None
    dependencies: tuple[Dependency, ...] = ()
    produced_by: tuple[str, ...] = ()
    code_location: SourceLocation = SourceLocation()
    data_location: SourceLocation = SourceLocation()
    tags: dict[str, str] | None = None
    stage: Stage = Stage.DEVELOPMENT
    serving: Serving = Serving()
