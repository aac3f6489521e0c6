"""Proto <-> dataclass conversion, as plain functions: scalars (enums and times through
``_wire``, Struct values) and the metadata service's messages. The deploy service's and
AuthService's are in ``_convert_deploy`` and ``_convert_auth``; these modules alone read proto
fields."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from google.protobuf import struct_pb2

from modelyard._types import (
    Artifact,
    ArtifactFile,
    ArtifactStatus,
    AuditEvent,
    ComparedField,
    Comparison,
    ConsumptionKind,
    Dependency,
    DependencyScope,
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
    OwnerCount,
    PlatformInfo,
    Project,
    ProjectSummary,
    Serving,
    Signature,
    SourceLocation,
    Stage,
    TensorSpec,
    UploadSession,
    VersionConsumer,
    VersionConsumers,
    VersionFields,
    VersionStatus,
)
from modelyard._wire import ProtoEnum, time_from_pb, time_to_pb
from modelyard.v1 import metadata_pb2, registry_pb2, types_pb2

# Integral doubles up to this size read back as int (Struct numbers are all doubles).
_MAX_EXACT_INT = 2**53

_E = TypeVar("_E", bound=StrEnum)


# --- scalars -------------------------------------------------------------------------------

STAGES = ProtoEnum(Stage, types_pb2.Stage.Value, "STAGE_")
STATUSES = ProtoEnum(VersionStatus, types_pb2.VersionStatus.Value, "VERSION_STATUS_")
KINDS = ProtoEnum(ModelKind, types_pb2.ModelKind.Value, "MODEL_KIND_")
SCOPES = ProtoEnum(DependencyScope, types_pb2.DependencyScope.Value, "DEPENDENCY_SCOPE_")
ENSEMBLE_METHODS = ProtoEnum(EnsembleMethod, types_pb2.EnsembleMethod.Value, "ENSEMBLE_METHOD_")
DIRECTIONS = ProtoEnum(LineageDirection, metadata_pb2.LineageDirection.Value, "LINEAGE_DIRECTION_")
CONSUMPTION_KINDS = ProtoEnum(ConsumptionKind, types_pb2.ConsumptionKind.Value, "CONSUMPTION_KIND_")


def read_enum(table: ProtoEnum[_E], number: int) -> _E:
    """Proto enum number -> Python enum; a number this client does not know (a newer server's)
    is UNSPECIFIED."""
    member = table.from_pb(number)
    return member if member is not None else table.cls("UNSPECIFIED")


def stage_from_pb(number: int) -> Stage:
    return read_enum(STAGES, number)


def stage_to_pb(stage: Stage) -> types_pb2.Stage.ValueType:
    return types_pb2.Stage.ValueType(STAGES.to_pb(stage))


def status_from_pb(number: int) -> VersionStatus:
    return read_enum(STATUSES, number)


def kind_from_pb(number: int) -> ModelKind:
    return read_enum(KINDS, number)


def kind_to_pb(kind: ModelKind) -> types_pb2.ModelKind.ValueType:
    return types_pb2.ModelKind.ValueType(KINDS.to_pb(kind))


def direction_to_pb(direction: LineageDirection) -> metadata_pb2.LineageDirection.ValueType:
    return metadata_pb2.LineageDirection.ValueType(DIRECTIONS.to_pb(direction))


def consumption_kind_to_pb(kind: ConsumptionKind) -> types_pb2.ConsumptionKind.ValueType:
    return types_pb2.ConsumptionKind.ValueType(CONSUMPTION_KINDS.to_pb(kind))


def optional_time(message: Any, field: str) -> datetime | None:
    """The timestamp ``message.<field>`` as an aware UTC datetime, None when unset."""
    return time_from_pb(getattr(message, field)) if message.HasField(field) else None


# --- Struct / Value ------------------------------------------------------------------------


def value_from_pb(value: struct_pb2.Value) -> Any:
    """A google.protobuf.Value as a plain Python value (dict, list, str, float/int, bool, None).

    Struct numbers are doubles; integral ones read back as int so that ``{"max_depth": 6}``
    round-trips as 6 rather than 6.0.
    """
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return struct_from_pb(value.struct_value)
    if kind == "list_value":
        return [value_from_pb(item) for item in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) <= _MAX_EXACT_INT:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def struct_from_pb(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {key: value_from_pb(item) for key, item in struct.fields.items()}


def value_to_pb(value: Any, where: str = "value") -> struct_pb2.Value:
    """A JSON-like Python value as a google.protobuf.Value; ``where`` names it in errors."""
    message = struct_pb2.Value()
    if value is None:
        message.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} cannot be stored (only finite numbers)")
        message.number_value = float(value)
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, Mapping):
        message.struct_value.CopyFrom(struct_to_pb(value, where))
    elif isinstance(value, list | tuple):
        message.list_value.values.extend(value_to_pb(item, f"{where}[{i}]") for i, item in enumerate(value))
    else:
        raise TypeError(f"{where}: {type(value).__name__} is not JSON-like (dict, list, str, number, bool, None)")
    return message


def struct_to_pb(document: Mapping[str, Any], where: str = "value") -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    for key, item in document.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: key {key!r} is not a string")
        struct.fields[key].CopyFrom(value_to_pb(item, f"{where}.{key}"))
    return struct


# --- shared messages -----------------------------------------------------------------------


def location_from_pb(message: Any, field: str) -> SourceLocation | None:
    """``message.<field>`` as a SourceLocation; None when unset or empty (nothing to point at)."""
    if not message.HasField(field):
        return None
    location: types_pb2.SourceLocation = getattr(message, field)
    if not (location.uri or location.revision or location.path):
        return None
    return SourceLocation(uri=location.uri, revision=location.revision, path=location.path)


def location_to_pb(location: SourceLocation | None) -> types_pb2.SourceLocation | None:
    if location is None:
        return None
    return types_pb2.SourceLocation(uri=location.uri, revision=location.revision, path=location.path)


def signature_from_pb(signature: types_pb2.Signature) -> Signature:
    def specs(tensors: Iterable[types_pb2.TensorSpec]) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(name=t.name, datatype=t.datatype, shape=tuple(t.shape)) for t in tensors)

    return Signature(inputs=specs(signature.inputs), outputs=specs(signature.outputs))


def signature_to_pb(signature: Signature) -> types_pb2.Signature:
    def specs(tensors: Iterable[TensorSpec]) -> list[types_pb2.TensorSpec]:
        return [types_pb2.TensorSpec(name=t.name, datatype=t.datatype, shape=list(t.shape)) for t in tensors]

    return types_pb2.Signature(inputs=specs(signature.inputs), outputs=specs(signature.outputs))


def dependency_from_pb(dependency: types_pb2.Dependency) -> Dependency:
    scope = read_enum(SCOPES, dependency.scope)
    return Dependency(library=dependency.library, version=dependency.version, scope=scope)


def dependency_to_pb(dependency: Dependency | str) -> types_pb2.Dependency:
    if isinstance(dependency, str):
        dependency = Dependency.parse(dependency)
    scope = types_pb2.DependencyScope.ValueType(SCOPES.to_pb(dependency.scope))
    return types_pb2.Dependency(library=dependency.library, version=dependency.version, scope=scope)


def file_from_pb(f: types_pb2.ArtifactFile) -> ArtifactFile:
    return ArtifactFile(
        path=f.path, size=f.size, sha256=f.sha256, storage_key=f.storage_key, content_type=f.content_type
    )


def artifact_from_pb(artifact: types_pb2.Artifact) -> Artifact:
    return Artifact(files=tuple(file_from_pb(f) for f in artifact.files), total_size=artifact.total_size)


def artifact_to_pb(artifact: Artifact) -> types_pb2.Artifact:
    files = [
        types_pb2.ArtifactFile(
            path=f.path, size=f.size, sha256=f.sha256, storage_key=f.storage_key, content_type=f.content_type
        )
        for f in artifact.files
    ]
    return types_pb2.Artifact(files=files, total_size=artifact.total_size)


def metric_from_pb(metric: types_pb2.Metric) -> MetricPoint:
    structured = metric.WhichOneof("value") == "structured"
    value: float | dict[str, Any] = struct_from_pb(metric.structured) if structured else metric.number
    source = metric.source
    return MetricPoint(
        name=metric.name,
        value=value,
        step=metric.step,
        time=optional_time(metric, "time"),
        source=MetricSource(source.scoring_run, source.scoring_test_id, source.scoring_test, source.dataset)
        if metric.HasField("source")
        else None,
    )


def metric_to_pb(
    name: str, value: float | Mapping[str, Any], step: int = 0, time: datetime | None = None
) -> types_pb2.Metric:
    """A scalar (int or float) becomes ``number``, a mapping becomes ``structured``."""
    metric = types_pb2.Metric(name=name, step=step, time=time_to_pb(time) if time else None)
    if isinstance(value, Mapping):
        metric.structured.CopyFrom(struct_to_pb(value, f"metrics.{name}"))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"metrics.{name}: {value} cannot be stored (only finite numbers)")
        metric.number = float(value)
    else:
        raise TypeError(f"metrics.{name}: expected a number or a dict, got {type(value).__name__}")
    return metric


# --- resources -----------------------------------------------------------------------------


def project_from_pb(project: types_pb2.Project) -> Project:
    return Project(
        name=project.name,
        description=project.description,
        owner=project.owner,
        create_time=optional_time(project, "create_time"),
        update_time=optional_time(project, "update_time"),
    )


def model_from_pb(model: types_pb2.Model) -> Model:
    return Model(
        project=model.project,
        name=model.name,
        description=model.description,
        owner=model.owner,
        team=model.team,
        kind=kind_from_pb(model.kind),
        tags=dict(model.tags),
        code_location=location_from_pb(model, "code_location"),
        data_location=location_from_pb(model, "data_location"),
        archived=model.archived,
        latest_version=model.latest_version,
        aliases=dict(model.aliases),
        create_time=optional_time(model, "create_time"),
        update_time=optional_time(model, "update_time"),
        lifecycle=Lifecycle(
            model.lifecycle.version, stage_from_pb(model.lifecycle.stage), status_from_pb(model.lifecycle.status)
        )
        if model.HasField("lifecycle")
        else None,
    )


def version_from_pb(version: types_pb2.ModelVersion) -> ModelVersion:
    metrics: dict[str, float] = {}
    custom_metrics: dict[str, dict[str, Any]] = {}
    for metric in version.metrics:
        point = metric_from_pb(metric)
        if isinstance(point.value, dict):
            custom_metrics[point.name] = point.value
        else:
            metrics[point.name] = point.value
    return ModelVersion(
        project=version.project,
        model=version.model,
        version=version.version,
        reference=version.reference,
        stage=stage_from_pb(version.stage),
        status=status_from_pb(version.status),
        status_message=version.status_message,
        framework=version.framework,
        payload_format=version.payload_format,
        author=version.author,
        description=version.description,
        signature=signature_from_pb(version.signature),
        hyperparameters=struct_from_pb(version.hyperparameters),
        dependencies=tuple(dependency_from_pb(d) for d in version.dependencies),
        produced_by=tuple(version.produced_by),
        code_location=location_from_pb(version, "code_location"),
        data_location=location_from_pb(version, "data_location"),
        tags=dict(version.tags),
        aliases=tuple(version.aliases),
        metrics=metrics,
        custom_metrics=custom_metrics,
        artifact=artifact_from_pb(version.artifact) if version.artifact.files else None,
        create_time=optional_time(version, "create_time"),
        update_time=optional_time(version, "update_time"),
        serving=serving_from_pb(version),
    )


def serving_from_pb(version: types_pb2.ModelVersion) -> Serving | None:
    if not version.HasField("serving"):
        return None
    serving = version.serving
    method = read_enum(ENSEMBLE_METHODS, serving.ensemble_method)
    return Serving(entry_point=serving.entry_point, ensemble_method=method, members=tuple(serving.members))


def serving_to_pb(serving: Serving) -> types_pb2.Serving:
    return types_pb2.Serving(
        entry_point=serving.entry_point,
        ensemble_method=types_pb2.EnsembleMethod.ValueType(ENSEMBLE_METHODS.to_pb(serving.ensemble_method)),
        members=serving.members,
    )


def audit_event_from_pb(event: types_pb2.AuditEvent) -> AuditEvent:
    return AuditEvent(
        id=event.id,
        time=optional_time(event, "time"),
        actor=event.actor,
        action=event.action,
        project=event.project,
        resource=event.resource,
        before=struct_from_pb(event.before) if event.HasField("before") else None,
        after=struct_from_pb(event.after) if event.HasField("after") else None,
        reason=event.reason,
        request_id=event.request_id,
        access=event.access,
    )


# --- responses -----------------------------------------------------------------------------


def summary_from_pb(response: metadata_pb2.GetProjectSummaryResponse) -> ProjectSummary:
    metric = None
    if response.HasField("metric"):
        m = response.metric
        metric = MetricRange(
            name=m.name,
            min=m.min,
            max=m.max,
            min_reference=m.min_reference,
            max_reference=m.max_reference,
            count=m.count,
        )
    return ProjectSummary(
        project=project_from_pb(response.project),
        model_count=response.model_count,
        archived_model_count=response.archived_model_count,
        version_count=response.version_count,
        versions_by_stage={stage_from_pb(c.stage): c.count for c in response.versions_by_stage},
        metric=metric,
        owners=tuple(OwnerCount(owner=o.owner, team=o.team, models=o.models) for o in response.owners),
    )


def lineage_from_pb(response: metadata_pb2.GetLineageResponse) -> Lineage:
    nodes = tuple(
        LineageNode(reference=n.reference, stage=stage_from_pb(n.stage), status=status_from_pb(n.status), depth=n.depth)
        for n in response.nodes
    )
    edges = tuple(LineageEdge(from_reference=e.from_reference, to_reference=e.to_reference) for e in response.edges)
    return Lineage(root=response.root, nodes=nodes, edges=edges, left_out=response.left_out)


def consumers_from_pb(response: metadata_pb2.ListVersionConsumersResponse) -> VersionConsumers:
    consumers = tuple(
        VersionConsumer(
            principal=c.principal,
            kind=read_enum(CONSUMPTION_KINDS, c.kind),
            detail=c.detail,
            teams=tuple(c.teams),
            first_time=optional_time(c, "first_time"),
            last_time=optional_time(c, "last_time"),
        )
        for c in response.consumers
    )
    return VersionConsumers(reference=response.reference, consumers=consumers, team_count=response.team_count)


def artifact_status_from_pb(response: registry_pb2.StatArtifactResponse) -> ArtifactStatus:
    sessions = tuple(
        UploadSession(reference=s.reference, path=s.path, size=s.size, sha256=s.sha256, offset=s.offset)
        for s in response.sessions
    )
    return ArtifactStatus(
        reference=response.reference,
        status=status_from_pb(response.status),
        files=tuple(file_from_pb(f) for f in response.artifact.files),
        uploaded=tuple(file_from_pb(f) for f in response.uploaded),
        sessions=sessions,
    )


def comparison_from_pb(response: metadata_pb2.CompareVersionsResponse) -> Comparison:
    def rows(fields: Iterable[metadata_pb2.ComparedField]) -> tuple[ComparedField, ...]:
        return tuple(
            ComparedField(key=f.key, values=tuple(value_from_pb(v) for v in f.values), differs=f.differs)
            for f in fields
        )

    return Comparison(
        versions=tuple(version_from_pb(v) for v in response.versions),
        params=rows(response.params),
        metrics=rows(response.metrics),
        metadata=rows(response.metadata),
    )


def platform_info_from_pb(response: metadata_pb2.GetPlatformInfoResponse) -> PlatformInfo:
    return PlatformInfo(registry=response.registry_address, deploy=response.deploy_address, version=response.version)


# --- settable fields (create and update) ---------------------------------------------------

MODEL_FIELDS = frozenset(ModelFields.__annotations__)
VERSION_FIELDS = frozenset(VersionFields.__annotations__)


def _check_fields(fields: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise TypeError(f"unknown {what} field(s) {', '.join(unknown)}; settable: {', '.join(sorted(allowed))}")


def model_to_pb(project: str, name: str, fields: ModelFields) -> types_pb2.Model:
    """A Model message naming the model and carrying ``fields`` (keys checked at run time too)."""
    _check_fields(fields, MODEL_FIELDS, "model")
    model = types_pb2.Model(project=project, name=name)
    values: Mapping[str, Any] = fields
    for key, value in values.items():
        if key == "kind":
            model.kind = kind_to_pb(ModelKind.parse(value))
        elif key == "tags":
            model.tags.update(value)
        elif key in ("code_location", "data_location"):
            if value is not None:
                getattr(model, key).CopyFrom(location_to_pb(value))
        else:
            setattr(model, key, value)
    return model


def fill_version_fields(
    message: types_pb2.ModelVersion | metadata_pb2.CreateModelVersionRequest, fields: VersionFields
) -> None:
    """Writes ``fields`` into a ModelVersion or a CreateModelVersionRequest (same field names)."""
    _check_fields(fields, VERSION_FIELDS, "version")
    values: Mapping[str, Any] = fields
    for key, value in values.items():
        if key == "signature":
            message.signature.CopyFrom(signature_to_pb(value))
        elif key == "hyperparameters":
            message.hyperparameters.CopyFrom(struct_to_pb(value, "hyperparameters"))
        elif key == "dependencies":
            message.dependencies.extend(dependency_to_pb(d) for d in value)
        elif key == "produced_by":
            if isinstance(value, str):
                raise TypeError("produced_by: expected a list of references, got a string")
            message.produced_by.extend(value)
        elif key == "tags":
            message.tags.update(value)
        elif key in ("code_location", "data_location"):
            if value is not None:
                getattr(message, key).CopyFrom(location_to_pb(value))
        elif key == "serving":
            message.serving.CopyFrom(serving_to_pb(value))
        else:
            setattr(message, key, value)
