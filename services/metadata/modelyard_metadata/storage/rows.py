"""Database rows to entities and entity fields to column values, in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import orjson

from modelyard_metadata.domain.access import Role, RoleBinding
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.entities import (
    AuditEvent,
    Dependency,
    DependencyScope,
    EnsembleMethod,
    Lifecycle,
    MetricPoint,
    MetricSource,
    Model,
    ModelKind,
    ModelVersion,
    Project,
    Serving,
    SourceLocation,
    Stage,
    TensorSpec,
    VersionStatus,
)

__all__ = [
    "Row",
    "audit_from_row",
    "binding_from_row",
    "location_to_json",
    "metric_from_json",
    "metric_to_json",
    "model_from_row",
    "project_from_row",
    "tensors_to_json",
    "version_columns",
    "version_from_row",
]


class Row(Protocol):
    """A database row (asyncpg Record) or a cached copy of one (dict)."""

    def __getitem__(self, key: str, /) -> Any: ...


def json_text(value: Any) -> str:
    """``value`` as a jsonb column's text (the pool's codec; and where a statement takes an array
    of JSON values: asyncpg would read a list in such an array as a dimension of it)."""
    return orjson.dumps(value).decode()


def location_from_json(data: Mapping[str, Any]) -> SourceLocation:
    return SourceLocation(uri=data.get("uri", ""), revision=data.get("revision", ""), path=data.get("path", ""))


def location_to_json(location: SourceLocation) -> dict[str, str]:
    return {"uri": location.uri, "revision": location.revision, "path": location.path}


def tensors_to_json(tensors: Sequence[TensorSpec]) -> list[dict[str, Any]]:
    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in tensors]


def _tensors_from_json(data: Sequence[Mapping[str, Any]]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(t["name"], t["datatype"], tuple(t["shape"])) for t in data)


def metric_to_json(point: MetricPoint) -> dict[str, Any]:
    value: dict[str, Any] = {"step": point.step, "time": point.time.isoformat()}
    if point.number is not None:
        value["number"] = point.number
    else:
        value["structured"] = point.structured
    if point.source is not None:
        value["source"] = snapshot(point.source)
    return value


def metric_from_json(name: str, data: Mapping[str, Any]) -> MetricPoint:
    return MetricPoint(
        name=name,
        number=data.get("number"),
        structured=data.get("structured"),
        step=data["step"],
        time=datetime.fromisoformat(data["time"]),
        source=MetricSource(**data["source"]) if "source" in data else None,
    )


def project_from_row(row: Row) -> Project:
    return Project(row["name"], row["description"], row["owner"], row["created_at"], row["updated_at"])


def model_from_row(row: Row) -> Model:
    return Model(
        id=row["id"],
        project=row["project"],
        name=row["name"],
        description=row["description"],
        owner=row["owner"],
        team=row["team"],
        kind=ModelKind(row["kind"]),
        tags=row["tags"],
        code_location=location_from_json(row["code_location"]),
        data_location=location_from_json(row["data_location"]),
        archived=row["archived"],
        latest_version=row["latest_version"],
        aliases=row["aliases"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        lifecycle=None
        if row["lead_version"] is None
        else Lifecycle(row["lead_version"], Stage(row["lead_stage"]), VersionStatus(row["lead_status"])),
    )


def version_from_row(row: Row) -> ModelVersion:
    signature = row["signature"]
    return ModelVersion(
        id=row["id"],
        model_id=row["model_id"],
        project=row["project"],
        model=row["model"],
        version=row["version"],
        stage=Stage(row["stage"]),
        status=VersionStatus(row["status"]),
        status_message=row["status_message"],
        framework=row["framework"],
        payload_format=row["payload_format"],
        author=row["author"],
        description=row["description"],
        inputs=_tensors_from_json(signature.get("inputs", ())),
        outputs=_tensors_from_json(signature.get("outputs", ())),
        hyperparameters=row["params"],
        dependencies=tuple(
            Dependency(d["library"], d["version"], DependencyScope(d["scope"])) for d in row["dependencies"]
        ),
        produced_by=tuple(row["produced_by"]),
        code_location=location_from_json(row["code_location"]),
        data_location=location_from_json(row["data_location"]),
        tags=row["tags"],
        aliases=tuple(row["aliases"]),
        metrics=tuple(metric_from_json(name, value) for name, value in sorted(row["metrics"].items())),
        artifact=row["artifact"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        serving=serving_from_json(row["serving"]),
    )


def serving_to_json(serving: Serving) -> dict[str, Any]:
    """Only what is set: most versions store {}."""
    data: dict[str, Any] = {}
    if serving.entry_point:
        data["entry_point"] = serving.entry_point
    if serving.ensemble_method is not None:
        data["ensemble_method"] = serving.ensemble_method.value
    if serving.members:
        data["members"] = list(serving.members)
    return data


def serving_from_json(data: dict[str, Any]) -> Serving:
    method = data.get("ensemble_method")
    return Serving(
        entry_point=data.get("entry_point", ""),
        ensemble_method=EnsembleMethod(method) if method else None,
        members=tuple(data.get("members", ())),
    )


def audit_from_row(row: Row) -> AuditEvent:
    return AuditEvent(
        id=row["id"],
        time=row["time"],
        actor=row["actor"],
        action=row["action"],
        project=row["project"],
        resource=row["resource"],
        before=row["before"],
        after=row["after"],
        reason=row["reason"],
        request_id=row["request_id"],
        access=row["access"],
    )


def version_columns(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Entity field changes -> column values of model_versions."""
    columns: dict[str, Any] = {}
    for field, value in changes.items():
        if field in ("inputs", "outputs"):
            continue
        if field == "hyperparameters":
            columns["params"] = value
        elif field == "dependencies":
            columns["dependencies"] = [
                {"library": d.library, "version": d.version, "scope": d.scope.value} for d in value
            ]
        elif field in ("code_location", "data_location"):
            columns[field] = location_to_json(value)
        elif field in ("stage", "status"):
            columns[field] = value.value
        elif field == "serving":
            columns[field] = serving_to_json(value)
        else:
            columns[field] = value
    if "inputs" in changes or "outputs" in changes:
        columns["signature"] = {
            "inputs": tensors_to_json(changes.get("inputs", ())),
            "outputs": tensors_to_json(changes.get("outputs", ())),
        }
    return columns


def binding_from_row(row: Row) -> RoleBinding:
    return RoleBinding(row["project"], row["principal"], Role[row["role"]], row["granted_by"], row["granted_at"])
