"""What the client returns and takes: frozen dataclasses and str-valued enums.

Collections are tuples, free-form documents (hyperparameters, structured metrics, audit
snapshots) are plain dicts, timestamps are timezone-aware UTC datetimes (None when unset).

One module although long: it is declarations only (no logic beyond ``parse`` and a few
properties), re-exported whole by ``modelyard`` and read as the SDK's one reference of what it
returns; the services' domains share its enums through ``modelyard_common.values``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Self, TypedDict

__all__ = [
    "AliasChange",
    "Artifact",
    "ArtifactFile",
    "ArtifactStatus",
    "AuditEvent",
    "Authorization",
    "ComparedField",
    "Comparison",
    "Consumption",
    "ConsumptionKind",
    "Dependency",
    "DependencyScope",
    "Deployment",
    "DeploymentRevision",
    "DeploymentRuntime",
    "DeploymentState",
    "EnsembleMethod",
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
    "NewToken",
    "OwnerCount",
    "PlatformInfo",
    "Principal",
    "PrincipalKind",
    "Project",
    "ProjectRole",
    "ProjectSummary",
    "Replica",
    "ReplicaState",
    "RoleBinding",
    "Serving",
    "Signature",
    "SourceLocation",
    "Stage",
    "TensorSpec",
    "Token",
    "TransferPhase",
    "TransferProgress",
    "UploadSession",
    "VersionConsumer",
    "VersionConsumers",
    "VersionFields",
    "VersionPage",
    "VersionStatus",
    "WhoAmI",
]


class _NamedEnum(StrEnum):
    """Enum whose value is its name; parsing ignores case (``Stage.parse("production")``)."""

    @classmethod
    def parse(cls, value: str) -> Self:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            choices = ", ".join(m.value for m in cls if m.value != "UNSPECIFIED")
            raise ValueError(f"{value!r} is not a {cls.__name__}; expected one of {choices}") from None


class Stage(_NamedEnum):
    """Lifecycle stage of a version. UNSPECIFIED stands for a value this client does not know."""

    UNSPECIFIED = "UNSPECIFIED"
    DEVELOPMENT = "DEVELOPMENT"
    VALIDATION = "VALIDATION"
    PRODUCTION = "PRODUCTION"
    ARCHIVED = "ARCHIVED"


class VersionStatus(_NamedEnum):
    """State of a version's artifact bytes; only READY versions can be downloaded or deployed."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING_UPLOAD = "PENDING_UPLOAD"
    READY = "READY"
    FAILED = "FAILED"


class ModelKind(_NamedEnum):
    UNSPECIFIED = "UNSPECIFIED"
    STANDARD = "STANDARD"
    CUSTOM = "CUSTOM"
    ENSEMBLE = "ENSEMBLE"


class DeploymentRuntime(_NamedEnum):
    """Where a deployment's replicas run: local processes of the deploy service, or Kubernetes."""

    UNSPECIFIED = "UNSPECIFIED"
    PROCESS = "PROCESS"
    KUBERNETES = "KUBERNETES"


class DeploymentState(_NamedEnum):
    """PENDING (nothing ready yet), PROGRESSING (a change under way), AVAILABLE, DEGRADED (a
    replica is restarting), FAILED (``status_message`` says why; older replicas keep serving),
    DELETING (its replicas are stopping; it is gone once they are)."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    PROGRESSING = "PROGRESSING"
    AVAILABLE = "AVAILABLE"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"
    DELETING = "DELETING"


class ReplicaState(_NamedEnum):
    UNSPECIFIED = "UNSPECIFIED"
    STARTING = "STARTING"
    READY = "READY"
    STOPPING = "STOPPING"
    FAILED = "FAILED"


class TransferPhase(StrEnum):
    """What a ``TransferProgress`` counts: reading a file to hash it, or moving its bytes."""

    HASH = "hash"
    UPLOAD = "upload"
    DOWNLOAD = "download"


class DependencyScope(_NamedEnum):
    UNSPECIFIED = "UNSPECIFIED"
    BUILD = "BUILD"
    RUN = "RUN"


class EnsembleMethod(_NamedEnum):
    """How an ENSEMBLE's members combine: mean of each output, per-element majority (ties to the
    member listed first), or a chain (each member's outputs are the next one's inputs)."""

    UNSPECIFIED = "UNSPECIFIED"
    AVERAGE = "AVERAGE"
    VOTE = "VOTE"
    CHAIN = "CHAIN"


@dataclass(frozen=True, slots=True)
class Serving:
    """How an inference server runs a version, fixed when the version is created: a CUSTOM
    model's ``entry_point`` ("module:attribute" of a .py file in the artifact), an ENSEMBLE's
    method and ``members`` (READY versions, in order; read back as canonical references). An
    ENSEMBLE version has no bytes of its own and is READY when created."""

    entry_point: str = ""
    ensemble_method: EnsembleMethod = EnsembleMethod.UNSPECIFIED
    members: tuple[str, ...] = ()


class LineageDirection(_NamedEnum):
    UNSPECIFIED = "UNSPECIFIED"
    UPSTREAM = "UPSTREAM"
    DOWNSTREAM = "DOWNSTREAM"
    BOTH = "BOTH"


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where code or data lives: ``uri`` pinned to ``revision``, ``path`` inside it."""

    uri: str
    revision: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One input or output tensor: OIP datatype (FP32, INT64, BYTES...), -1 for a variable dim."""

    name: str
    datatype: str
    shape: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Signature:
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Dependency:
    """A library the model needs: ``version`` is a version ("1.5.2") or a PEP 440 specifier."""

    library: str
    version: str = ""
    scope: DependencyScope = DependencyScope.RUN

    @classmethod
    def parse(cls, spec: str, scope: DependencyScope = DependencyScope.RUN) -> Dependency:
        """Reads a requirement: ``"scikit-learn==1.5.2"`` (pin, stored as ``1.5.2``),
        ``"numpy>=1.26,<3"`` (specifier kept as is) or ``"pandas"`` (any version)."""
        text = spec.strip()
        cut = next((i for i, ch in enumerate(text) if ch in "=<>!~ "), len(text))
        library, version = text[:cut].strip(), text[cut:].strip()
        if not library or (version and not version.startswith(("==", ">", "<", "!=", "~="))):
            raise ValueError(f"{spec!r} is not a requirement like 'scikit-learn==1.5.2'")
        pinned = version[2:].strip()
        if version.startswith("==") and pinned and not any(ch in pinned for ch in "=*,<>!~ "):
            version = pinned
        return cls(library=library, version=version, scope=scope)


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    path: str
    size: int
    sha256: str
    storage_key: str = ""
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class Artifact:
    files: tuple[ArtifactFile, ...] = ()
    total_size: int = 0


@dataclass(frozen=True, slots=True)
class UploadSession:
    """An unfinished upload of one file: ``offset`` bytes are durable, the upload resumes there."""

    reference: str
    path: str
    size: int
    sha256: str
    offset: int


@dataclass(frozen=True, slots=True)
class ArtifactStatus:
    """Where a version's artifact stands in the registry: ``files`` are committed (READY
    versions); ``uploaded`` are verified but not committed yet and ``sessions`` still uploading
    (PENDING_UPLOAD versions)."""

    reference: str
    status: VersionStatus
    files: tuple[ArtifactFile, ...] = ()
    uploaded: tuple[ArtifactFile, ...] = ()
    sessions: tuple[UploadSession, ...] = ()


@dataclass(frozen=True, slots=True)
class TransferProgress:
    """What ``push`` and ``pull`` report to their ``progress`` callback: ``done`` of ``total``
    bytes of the file at ``path`` (relative, as in the artifact) are hashed or transferred.
    ``done`` starts at the offset a transfer resumes from, and may go back after a cut."""

    path: str
    done: int
    total: int
    phase: TransferPhase


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    description: str = ""
    owner: str = ""
    create_time: datetime | None = None
    update_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Model:
    project: str
    name: str
    description: str = ""
    owner: str = ""
    team: str = ""
    kind: ModelKind = ModelKind.STANDARD
    tags: dict[str, str] = field(default_factory=dict)
    code_location: SourceLocation | None = None
    data_location: SourceLocation | None = None
    archived: bool = False
    latest_version: int = 0
    aliases: dict[str, int] = field(default_factory=dict)
    create_time: datetime | None = None
    update_time: datetime | None = None
    lifecycle: Lifecycle | None = None
    """None while the model has no version."""

    @property
    def full_name(self) -> str:
        """``"project/model"``, as every call naming a model takes it."""
        return f"{self.project}/{self.name}"


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """A model's lifecycle at a glance: its version aliased "champion", else its newest."""

    version: int
    stage: Stage
    status: VersionStatus


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a model. ``metrics`` holds the latest value of each scalar metric,
    ``custom_metrics`` the latest value of each structured one; history via ``metric_history``.
    ``artifact`` is None until its files are committed; a location is None when not given."""

    project: str
    model: str
    version: int
    reference: str
    stage: Stage = Stage.DEVELOPMENT
    status: VersionStatus = VersionStatus.PENDING_UPLOAD
    status_message: str = ""
    framework: str = ""
    payload_format: str = ""
    author: str = ""
    description: str = ""
    signature: Signature = field(default_factory=Signature)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    dependencies: tuple[Dependency, ...] = ()
    produced_by: tuple[str, ...] = ()
    code_location: SourceLocation | None = None
    data_location: SourceLocation | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    custom_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifact: Artifact | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    # None for a STANDARD model's version.
    serving: Serving | None = None

    @property
    def model_name(self) -> str:
        return f"{self.project}/{self.model}"


@dataclass(frozen=True, slots=True)
class Replica:
    """One inference server of a deployment; ``endpoint`` is its OIP gRPC host:port."""

    id: str
    revision: int
    state: ReplicaState
    endpoint: str = ""
    restarts: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class Deployment:
    """A version served by ``replicas`` inference servers; ``endpoints`` are the ready ones
    (the name is the model name OIP clients send)."""

    name: str
    project: str
    model_reference: str
    version_reference: str
    replicas: int
    runtime: DeploymentRuntime
    state: DeploymentState
    revision: int
    status_message: str = ""
    ready_replicas: int = 0
    replica_status: tuple[Replica, ...] = ()
    endpoints: tuple[str, ...] = ()
    created_by: str = ""
    create_time: datetime | None = None
    update_time: datetime | None = None
    created_revision: int = 0
    """In what ``update_deployment`` and ``rollback_deployment`` return: the revision that call
    created (0: none), which ``revision`` may already have passed when other callers changed it
    too. 0 elsewhere."""
    trusted_types: tuple[str, ...] = ()
    """Types the current revision's servers trust in skops files beyond skops' defaults."""


@dataclass(frozen=True, slots=True)
class DeploymentRevision:
    """A version a deployment served, who made it serve it and why."""

    revision: int
    model_reference: str
    version_reference: str
    actor: str = ""
    reason: str = ""
    create_time: datetime | None = None
    trusted_types: tuple[str, ...] = ()
    """Types its servers trusted in skops files beyond skops' defaults."""


@dataclass(frozen=True, slots=True)
class MetricSource:
    """The scoring run that computed a metric: its id, its test (id and name), the dataset scored."""

    scoring_run: str
    scoring_test_id: str
    scoring_test: str
    dataset: str


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One logged value: a float for a scalar metric, a dict for a structured one; ``source``
    when a scoring run computed it (None: logged by a client)."""

    name: str
    value: float | dict[str, Any]
    step: int = 0
    time: datetime | None = None
    source: MetricSource | None = None


@dataclass(frozen=True, slots=True)
class AliasChange:
    """Result of moving or deleting an alias. ``version`` is what it points at now (None after a
    delete); ``previous_version`` what it pointed at before (None when the alias is new)."""

    model: str
    alias: str
    version: ModelVersion | None
    previous_version: int | None


@dataclass(frozen=True, slots=True)
class VersionPage:
    """One page of a search; ``next_page_token`` ("" after the last page) asks for the next."""

    versions: tuple[ModelVersion, ...]
    next_page_token: str = ""


@dataclass(frozen=True, slots=True)
class LineageNode:
    reference: str
    stage: Stage
    status: VersionStatus
    # Distance from the root: negative upstream, positive downstream, 0 for the root.
    depth: int


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """``from_reference`` is in ``produced_by`` of ``to_reference``: its output feeds it."""

    from_reference: str
    to_reference: str


@dataclass(frozen=True, slots=True)
class Lineage:
    root: str
    nodes: tuple[LineageNode, ...] = ()
    edges: tuple[LineageEdge, ...] = ()
    # Versions not shown: in projects the caller cannot read, or reached only through them.
    left_out: int = 0


@dataclass(frozen=True, slots=True)
class ComparedField:
    """One row of a comparison: a value per compared version (None where absent)."""

    key: str
    values: tuple[Any, ...]
    differs: bool


@dataclass(frozen=True, slots=True)
class Comparison:
    versions: tuple[ModelVersion, ...]
    params: tuple[ComparedField, ...] = ()
    metrics: tuple[ComparedField, ...] = ()
    metadata: tuple[ComparedField, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricRange:
    name: str
    min: float
    max: float
    min_reference: str
    max_reference: str
    count: int


@dataclass(frozen=True, slots=True)
class OwnerCount:
    owner: str
    team: str
    models: int


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    project: Project
    model_count: int
    archived_model_count: int
    version_count: int
    versions_by_stage: dict[Stage, int] = field(default_factory=dict)
    metric: MetricRange | None = None
    owners: tuple[OwnerCount, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """An entry of the append-only audit log; ``before``/``after`` are None on create/delete."""

    id: int
    time: datetime | None
    actor: str
    action: str
    project: str
    resource: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""
    request_id: str = ""
    # How the change was authorized ("EDITOR on fraud (team ml-core)", "platform admin"...).
    access: str = ""


# --- authentication and project roles ------------------------------------------------------


class PrincipalKind(_NamedEnum):
    """Who holds tokens: a person, a team (its members inherit its roles), or a service."""

    UNSPECIFIED = "UNSPECIFIED"
    USER = "USER"
    TEAM = "TEAM"
    SERVICE = "SERVICE"


class ProjectRole(_NamedEnum):
    """A role on a project, each including the ones before it: VIEWER reads; EDITOR also
    registers, pushes, logs metrics and deploys; ADMIN also grants roles and moves versions into
    or out of PRODUCTION."""

    UNSPECIFIED = "UNSPECIFIED"
    VIEWER = "VIEWER"
    EDITOR = "EDITOR"
    ADMIN = "ADMIN"


@dataclass(frozen=True, slots=True)
class Principal:
    """A user, team or service; ``admin`` may do everything everywhere. ``teams`` are a user's
    teams, ``members`` a team's members."""

    name: str
    kind: PrincipalKind = PrincipalKind.USER
    admin: bool = False
    teams: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token's record (never its secret); ``expires_at`` is None when it does not
    expire, ``revoked_at`` None while it is valid."""

    id: str
    principal: str
    description: str = ""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    created_by: str = ""


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created and its secret, which the server returns this once. The secret is
    kept out of ``repr`` so that logging the result does not leak it."""

    token: Token
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class RoleBinding:
    project: str
    principal: str
    role: ProjectRole
    granted_by: str = ""
    granted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WhoAmI:
    """The caller and its effective role on each project it can see (direct or through a team,
    the highest winning)."""

    principal: Principal
    roles: tuple[RoleBinding, ...] = ()


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    """What the metadata service says of the platform: where clients reach the registry and
    deploy services ("host:port"; empty when it was not told) and its own version."""

    registry: str
    deploy: str
    version: str


@dataclass(frozen=True, slots=True)
class Authorization:
    """The metadata service's answer to "may this token do that?" (registry and deploy services):
    ``principal`` is the end caller, ``message`` why not, ``grant`` how it was allowed,
    ``readable`` whether it may read the project (allowed or not)."""

    principal: str
    allowed: bool
    message: str = ""
    grant: str = ""
    readable: bool = False


class ConsumptionKind(_NamedEnum):
    """How a principal consumes a version: DOWNLOAD (its bytes left the registry for it: a pull,
    ``modelyard.load``) or DEPLOYMENT (it created or moved a deployment to it)."""

    UNSPECIFIED = "UNSPECIFIED"
    DOWNLOAD = "DOWNLOAD"
    DEPLOYMENT = "DEPLOYMENT"


@dataclass(frozen=True, slots=True)
class Consumption:
    """What the registry or the deploy service tells Authorize an action consumes: the version
    ``reference`` and, for a DEPLOYMENT, the ``deployment``'s name."""

    kind: ConsumptionKind
    reference: str
    deployment: str = ""


@dataclass(frozen=True, slots=True)
class VersionConsumer:
    """A principal consuming a version, with its teams now; ``detail`` is the deployment's name
    for a DEPLOYMENT. ``last_time`` moves forward at most once a minute."""

    principal: str
    kind: ConsumptionKind
    detail: str = ""
    teams: tuple[str, ...] = ()
    first_time: datetime | None = None
    last_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class VersionConsumers:
    """Who consumes version ``reference`` (canonical), most recent first, and how many distinct
    teams they belong to."""

    reference: str
    consumers: tuple[VersionConsumer, ...] = ()
    team_count: int = 0


class ModelFields(TypedDict, total=False):
    """Settable fields of a model: what ``create_model`` and ``update_model`` take as keywords.

    On update, each keyword given is written (and named in the field mask); a ``tags`` given
    replaces all tags; a location given as None clears it.
    """

    description: str
    owner: str
    team: str
    kind: ModelKind | str
    tags: Mapping[str, str]
    code_location: SourceLocation | None
    data_location: SourceLocation | None


class VersionFields(TypedDict, total=False):
    """Settable fields of a version: what ``create_version`` and ``update_version`` take as
    keywords. On update each keyword given replaces the whole field, as ``ModelFields``."""

    framework: str
    payload_format: str
    author: str
    description: str
    signature: Signature
    hyperparameters: Mapping[str, Any]
    # "scikit-learn==1.5.2" strings are read by Dependency.parse (run scope).
    dependencies: Iterable[Dependency | str]
    produced_by: Iterable[str]
    code_location: SourceLocation | None
    data_location: SourceLocation | None
    tags: Mapping[str, str]
    # Only when creating (create_version, push): CUSTOM and ENSEMBLE models need it.
    serving: Serving
