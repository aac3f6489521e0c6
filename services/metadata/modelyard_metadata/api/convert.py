"""Protobuf messages <-> domain values, as plain functions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from modelyard._wire import ProtoEnum, time_to_pb
from modelyard._wire import time_from_pb as _time_from_pb
from modelyard.v1 import metadata_pb2, types_pb2
from modelyard_common.errors import InvalidArgumentError
from modelyard_common.values import ConsumptionKind
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.entities import (
    AuditEvent,
    Consumer,
    Dependency,
    DependencyScope,
    EnsembleMethod,
    LineageEdge,
    LineageNode,
    MetricPoint,
    Model,
    ModelKind,
    ModelVersion,
    PlatformInfo,
    Project,
    Serving,
    SourceLocation,
    Stage,
    TensorSpec,
    VersionSpec,
    VersionStatus,
)
from modelyard_metadata.domain.json_bounds import shown_json
from modelyard_metadata.domain.ports import ProjectStats
from modelyard_metadata.domain.service_events import ServiceEvent

_KIND = ProtoEnum(ModelKind, types_pb2.ModelKind.Value, "MODEL_KIND_")
_STAGE = ProtoEnum(Stage, types_pb2.Stage.Value, "STAGE_")
_STATUS = ProtoEnum(VersionStatus, types_pb2.VersionStatus.Value, "VERSION_STATUS_")
_SCOPE = ProtoEnum(DependencyScope, types_pb2.DependencyScope.Value, "DEPENDENCY_SCOPE_")
_METHOD = ProtoEnum(EnsembleMethod, types_pb2.EnsembleMethod.Value, "ENSEMBLE_METHOD_")
CONSUMPTION = ProtoEnum(ConsumptionKind, types_pb2.ConsumptionKind.Value, "CONSUMPTION_KIND_")


def _stage_pb(stage: Stage) -> types_pb2.Stage.ValueType:
    # ProtoEnum gives a plain int; the stubs want each enum's own int type (the same at run time).
    return types_pb2.Stage.ValueType(_STAGE.to_pb(stage))


def status_pb(status: VersionStatus) -> types_pb2.VersionStatus.ValueType:
    return types_pb2.VersionStatus.ValueType(_STATUS.to_pb(status))


def time_from_pb(field: str, value: timestamp_pb2.Timestamp) -> datetime:
    """A timestamp a datetime (and Postgres) can hold: years 1 to 9999."""
    try:
        return _time_from_pb(value)
    except ValueError as exc:
        raise InvalidArgumentError(field, str(exc)) from None


def struct(value: dict[str, Any] | None, what: str) -> struct_pb2.Struct | None:
    """A stored JSON object as a response carries it (``what`` names it in the log if too deep)."""
    if value is None:
        return None
    message = struct_pb2.Struct()
    message.update(shown_json(value, what))
    return message


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def kind_from_pb(field: str, value: int) -> ModelKind:
    if value == types_pb2.MODEL_KIND_UNSPECIFIED:
        return ModelKind.STANDARD
    kind = _KIND.from_pb(value)
    if kind is None:
        raise InvalidArgumentError(field, f"unknown model kind {value}")
    return kind


def stage_from_pb(field: str, value: int, default: Stage | None = None) -> Stage:
    if value == types_pb2.STAGE_UNSPECIFIED and default is not None:
        return default
    stage = _STAGE.from_pb(value)
    if stage is None:
        raise InvalidArgumentError(field, f"must be one of DEVELOPMENT, VALIDATION, PRODUCTION, ARCHIVED (got {value})")
    return stage


def location_from_pb(message: types_pb2.SourceLocation) -> SourceLocation:
    return SourceLocation(uri=message.uri, revision=message.revision, path=message.path)


def location_to_pb(location: SourceLocation) -> types_pb2.SourceLocation:
    return types_pb2.SourceLocation(uri=location.uri, revision=location.revision, path=location.path)


def project_to_pb(project: Project) -> types_pb2.Project:
    return types_pb2.Project(
        name=project.name,
        description=project.description,
        owner=project.owner,
        create_time=time_to_pb(project.created_at),
        update_time=time_to_pb(project.updated_at),
    )


def model_to_pb(model: Model) -> types_pb2.Model:
    return types_pb2.Model(
        project=model.project,
        name=model.name,
        description=model.description,
        owner=model.owner,
        team=model.team,
        kind=types_pb2.ModelKind.ValueType(_KIND.to_pb(model.kind)),
        tags=model.tags,
        code_location=location_to_pb(model.code_location),
        data_location=location_to_pb(model.data_location),
        archived=model.archived,
        latest_version=model.latest_version,
        aliases=model.aliases,
        create_time=time_to_pb(model.created_at),
        update_time=time_to_pb(model.updated_at),
        lifecycle=None
        if model.lifecycle is None
        else types_pb2.Lifecycle(
            version=model.lifecycle.version,
            stage=_stage_pb(model.lifecycle.stage),
            status=status_pb(model.lifecycle.status),
        ),
    )


def model_changes_from_pb(model_pb: types_pb2.Model, paths: Sequence[str]) -> dict[str, Any]:
    """The values of ``model_pb`` named by an update mask, as domain values."""
    changes: dict[str, Any] = {}
    for path in paths:
        if path == "kind":
            changes[path] = kind_from_pb("model.kind", model_pb.kind)
        elif path in ("code_location", "data_location"):
            changes[path] = location_from_pb(getattr(model_pb, path))
        elif path == "tags":
            changes[path] = dict(model_pb.tags)
        elif path in ("description", "owner", "team"):
            changes[path] = getattr(model_pb, path)
        else:
            changes[path] = None  # the domain names the allowed paths
    return changes


def tensors_from_pb(tensors: Iterable[types_pb2.TensorSpec]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in tensors)


def _tensor_to_pb(tensor: TensorSpec) -> types_pb2.TensorSpec:
    return types_pb2.TensorSpec(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)


def dependencies_from_pb(dependencies: Iterable[types_pb2.Dependency]) -> tuple[Dependency, ...]:
    result = []
    for i, dep in enumerate(dependencies):
        scope = (
            DependencyScope.RUN if dep.scope == types_pb2.DEPENDENCY_SCOPE_UNSPECIFIED else _SCOPE.from_pb(dep.scope)
        )
        if scope is None:
            raise InvalidArgumentError(f"dependencies[{i}].scope", f"must be BUILD or RUN (got {dep.scope})")
        result.append(Dependency(dep.library, dep.version, scope))
    return tuple(result)


def version_spec_from_pb(request: metadata_pb2.CreateModelVersionRequest) -> VersionSpec:
    return VersionSpec(
        framework=request.framework,
        payload_format=request.payload_format,
        author=request.author,
        description=request.description,
        inputs=tensors_from_pb(request.signature.inputs),
        outputs=tensors_from_pb(request.signature.outputs),
        hyperparameters=struct_to_dict(request.hyperparameters),
        dependencies=dependencies_from_pb(request.dependencies),
        produced_by=tuple(request.produced_by),
        code_location=location_from_pb(request.code_location),
        data_location=location_from_pb(request.data_location),
        tags=dict(request.tags),
        stage=stage_from_pb("stage", request.stage, default=Stage.DEVELOPMENT),
        serving=serving_from_pb(request.serving),
    )


def serving_from_pb(serving: types_pb2.Serving) -> Serving:
    number = serving.ensemble_method
    method = _METHOD.from_pb(number)
    if number != types_pb2.ENSEMBLE_METHOD_UNSPECIFIED and method is None:
        raise InvalidArgumentError("serving.ensemble_method", f"{number} is not a known method")
    return Serving(entry_point=serving.entry_point, ensemble_method=method, members=tuple(serving.members))


def serving_to_pb(serving: Serving) -> types_pb2.Serving:
    method = types_pb2.ENSEMBLE_METHOD_UNSPECIFIED
    if serving.ensemble_method is not None:
        method = types_pb2.EnsembleMethod.ValueType(_METHOD.to_pb(serving.ensemble_method))
    return types_pb2.Serving(entry_point=serving.entry_point, ensemble_method=method, members=serving.members)


def version_changes_from_pb(version_pb: types_pb2.ModelVersion, paths: Sequence[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for path in paths:
        if path == "signature":
            changes[path] = (
                tensors_from_pb(version_pb.signature.inputs),
                tensors_from_pb(version_pb.signature.outputs),
            )
        elif path == "hyperparameters":
            changes[path] = struct_to_dict(version_pb.hyperparameters)
        elif path == "dependencies":
            changes[path] = dependencies_from_pb(version_pb.dependencies)
        elif path in ("code_location", "data_location"):
            changes[path] = location_from_pb(getattr(version_pb, path))
        elif path == "tags":
            changes[path] = dict(version_pb.tags)
        elif path == "produced_by":
            changes[path] = tuple(version_pb.produced_by)
        elif path in ("description", "author", "framework", "payload_format"):
            changes[path] = getattr(version_pb, path)
        else:
            changes[path] = None  # the domain names the allowed paths
    return changes


def metric_from_pb(index: int, metric: types_pb2.Metric, now: datetime) -> MetricPoint:
    which = metric.WhichOneof("value")
    return MetricPoint(
        name=metric.name,
        number=metric.number if which == "number" else None,
        structured=struct_to_dict(metric.structured) if which == "structured" else None,
        step=metric.step,
        time=time_from_pb(f"metrics[{index}].time", metric.time) if metric.HasField("time") else now,
    )


def metric_to_pb(point: MetricPoint, of: str = "") -> types_pb2.Metric:
    metric = types_pb2.Metric(name=point.name, step=point.step, time=time_to_pb(point.time))
    if point.number is not None:
        metric.number = point.number
    else:
        metric.structured.update(shown_json(point.structured or {}, f"metric {point.name!r} {of}".rstrip()))
    if point.source is not None:
        metric.source.CopyFrom(types_pb2.MetricSource(**snapshot(point.source)))
    return metric


def artifact_from_pb(artifact: types_pb2.Artifact) -> dict[str, Any]:
    files = [
        {
            "path": f.path,
            "size": f.size,
            "sha256": f.sha256,
            "storage_key": f.storage_key,
            "content_type": f.content_type,
        }
        for f in artifact.files
    ]
    return {"files": files, "total_size": sum(f["size"] for f in files)}


def artifact_to_pb(artifact: dict[str, Any]) -> types_pb2.Artifact:
    return types_pb2.Artifact(
        files=[types_pb2.ArtifactFile(**f) for f in artifact.get("files", ())],
        total_size=artifact.get("total_size", 0),
    )


def version_to_pb(version: ModelVersion) -> types_pb2.ModelVersion:
    return types_pb2.ModelVersion(
        project=version.project,
        model=version.model,
        version=version.version,
        reference=version.reference,
        stage=_stage_pb(version.stage),
        status=status_pb(version.status),
        status_message=version.status_message,
        framework=version.framework,
        payload_format=version.payload_format,
        author=version.author,
        description=version.description,
        signature=types_pb2.Signature(
            inputs=[_tensor_to_pb(t) for t in version.inputs], outputs=[_tensor_to_pb(t) for t in version.outputs]
        ),
        hyperparameters=struct(version.hyperparameters, f"hyperparameters of {version.reference}"),
        dependencies=[
            types_pb2.Dependency(
                library=d.library, version=d.version, scope=types_pb2.DependencyScope.ValueType(_SCOPE.to_pb(d.scope))
            )
            for d in version.dependencies
        ],
        produced_by=version.produced_by,
        code_location=location_to_pb(version.code_location),
        data_location=location_to_pb(version.data_location),
        tags=version.tags,
        aliases=version.aliases,
        metrics=[metric_to_pb(p, f"of {version.reference}") for p in version.metrics],
        artifact=artifact_to_pb(version.artifact),
        serving=serving_to_pb(version.serving) if version.serving != Serving() else None,
        create_time=time_to_pb(version.created_at),
        update_time=time_to_pb(version.updated_at),
    )


def audit_to_pb(event: AuditEvent) -> types_pb2.AuditEvent:
    return types_pb2.AuditEvent(
        id=event.id,
        time=time_to_pb(event.time),
        actor=event.actor,
        action=event.action,
        project=event.project,
        resource=event.resource,
        before=struct(event.before, f"audit event {event.id} before"),
        after=struct(event.after, f"audit event {event.id} after"),
        reason=event.reason,
        request_id=event.request_id,
        access=event.access,
    )


def lineage_to_pb(
    root: ModelVersion, nodes: Sequence[LineageNode], edges: Sequence[LineageEdge], left_out: int
) -> metadata_pb2.GetLineageResponse:
    return metadata_pb2.GetLineageResponse(
        root=root.reference,
        nodes=[
            metadata_pb2.LineageNode(
                reference=n.reference, stage=_stage_pb(n.stage), status=status_pb(n.status), depth=n.depth
            )
            for n in nodes
        ],
        edges=[metadata_pb2.LineageEdge(from_reference=e.parent, to_reference=e.child) for e in edges],
        left_out=left_out,
    )


def consumers_to_pb(
    reference: str, consumers: Sequence[Consumer], team_count: int
) -> metadata_pb2.ListVersionConsumersResponse:
    return metadata_pb2.ListVersionConsumersResponse(
        reference=reference,
        consumers=[
            metadata_pb2.VersionConsumer(
                principal=c.principal,
                teams=c.teams,
                kind=types_pb2.ConsumptionKind.ValueType(CONSUMPTION.to_pb(c.kind)),
                detail=c.detail,
                first_time=time_to_pb(c.first_at),
                last_time=time_to_pb(c.last_at),
            )
            for c in consumers
        ],
        team_count=team_count,
    )


def summary_to_pb(project: Project, stats: ProjectStats, metric: str) -> metadata_pb2.GetProjectSummaryResponse:
    response = metadata_pb2.GetProjectSummaryResponse(
        project=project_to_pb(project),
        model_count=stats.model_count,
        archived_model_count=stats.archived_model_count,
        version_count=stats.version_count,
        versions_by_stage=[
            metadata_pb2.StageCount(stage=_stage_pb(Stage(s)), count=n)
            for s, n in sorted(stats.versions_by_stage.items())
        ],
        owners=[metadata_pb2.OwnerCount(owner=o, team=t, models=n) for o, t, n in stats.owners],
    )
    if stats.metric is not None:
        low, high, low_ref, high_ref, count = stats.metric
        response.metric.CopyFrom(
            metadata_pb2.MetricRange(
                name=metric, min=low, max=high, min_reference=low_ref, max_reference=high_ref, count=count
            )
        )
    return response


def _value(value: Any, what: str) -> struct_pb2.Value:
    message = struct_pb2.Value()
    if value is None:
        message.null_value = struct_pb2.NULL_VALUE
    else:
        json_format.ParseDict(shown_json(value, what), message)
    return message


def compared_fields(rows: Sequence[dict[str, Any]]) -> list[metadata_pb2.ComparedField]:
    """One field per key found in any row, values side by side, ``differs`` when not all equal."""
    keys = sorted({key for row in rows for key in row})
    fields = []
    for key in keys:
        values = [row.get(key) for row in rows]
        fields.append(
            metadata_pb2.ComparedField(
                key=key,
                values=[_value(v, f"compared {key}") for v in values],
                differs=any(v != values[0] for v in values),
            )
        )
    return fields


def comparison_to_pb(versions: Sequence[ModelVersion]) -> metadata_pb2.CompareVersionsResponse:
    params = [{f"params.{k}": v for k, v in _flatten(ver.hyperparameters)} for ver in versions]
    metrics = [
        {f"metrics.{p.name}": p.number if p.number is not None else p.structured for p in ver.metrics}
        for ver in versions
    ]
    metadata = [
        {
            "model": ver.model_name,
            "stage": ver.stage.value,
            "status": ver.status.value,
            "framework": ver.framework,
            "payload_format": ver.payload_format,
            "author": ver.author,
            "created": ver.created_at.isoformat(),
            "dependencies": sorted(f"{d.library}{_pin(d.version)} ({d.scope.value})" for d in ver.dependencies),
            "inputs": [f"{t.name}:{t.datatype}{list(t.shape)}" for t in ver.inputs],
            "outputs": [f"{t.name}:{t.datatype}{list(t.shape)}" for t in ver.outputs],
            "produced_by": list(ver.produced_by),
            **{f"tags.{k}": v for k, v in ver.tags.items()},
        }
        for ver in versions
    ]
    return metadata_pb2.CompareVersionsResponse(
        versions=[version_to_pb(v) for v in versions],
        params=compared_fields(params),
        metrics=compared_fields(metrics),
        metadata=compared_fields(metadata),
    )


def _pin(version: str) -> str:
    return f"=={version}" if version and version[0].isdigit() else version


def _flatten(params: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Nested hyperparameters as dotted keys, so that they line up side by side."""
    for key, value in params.items():
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def platform_info_to_pb(info: PlatformInfo) -> metadata_pb2.GetPlatformInfoResponse:
    return metadata_pb2.GetPlatformInfoResponse(
        registry_address=info.registry_address, deploy_address=info.deploy_address, version=info.version
    )


def service_event_from_pb(event: metadata_pb2.ServiceEvent) -> ServiceEvent:
    return ServiceEvent(
        source_id=event.source_id,
        action=event.action,
        project=event.project,
        resource=event.resource,
        actor=event.actor,
        reason=event.reason,
        details=struct_to_dict(event.details),
        origin=event.origin,
    )
