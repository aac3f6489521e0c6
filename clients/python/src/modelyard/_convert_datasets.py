"""Dataset messages <-> the SDK's dataset types."""

from __future__ import annotations

from collections.abc import Iterable

from modelyard._convert import artifact_from_pb, status_from_pb
from modelyard._dataset_types import Dataset, DatasetColumn, DatasetFormat, DatasetLink, DatasetUse, DatasetVersion
from modelyard._wire import ProtoEnum, time_from_pb
from modelyard.v1 import datasets_pb2

__all__ = ["columns_to_pb", "dataset_from_pb", "format_to_pb", "link_from_pb", "use_to_pb", "version_from_pb"]

_FORMAT = ProtoEnum(DatasetFormat, datasets_pb2.DatasetFormat.Value, "DATASET_FORMAT_")
_USE = ProtoEnum(DatasetUse, datasets_pb2.DatasetUse.Value, "DATASET_USE_")


def format_to_pb(value: DatasetFormat) -> datasets_pb2.DatasetFormat.ValueType:
    return datasets_pb2.DatasetFormat.ValueType(_FORMAT.to_pb(value))


def use_to_pb(value: DatasetUse) -> datasets_pb2.DatasetUse.ValueType:
    return datasets_pb2.DatasetUse.ValueType(_USE.to_pb(value))


def dataset_from_pb(dataset: datasets_pb2.Dataset) -> Dataset:
    return Dataset(
        project=dataset.project,
        name=dataset.name,
        description=dataset.description,
        created_by=dataset.created_by,
        created_at=time_from_pb(dataset.created_at),
        latest_version=dataset.latest_version,
    )


def link_from_pb(link: datasets_pb2.DatasetLink) -> DatasetLink:
    return DatasetLink(
        model_version=link.model_version,
        dataset_version=link.dataset_version,
        use=_USE.from_pb(link.use) or DatasetUse.UNSPECIFIED,
        created_by=link.created_by,
        created_at=time_from_pb(link.created_at),
    )


def version_from_pb(version: datasets_pb2.DatasetVersion) -> DatasetVersion:
    return DatasetVersion(
        project=version.project,
        dataset=version.dataset,
        version=version.version,
        reference=version.reference,
        format=_FORMAT.from_pb(version.format) or DatasetFormat.UNSPECIFIED,
        status=status_from_pb(version.status),
        status_message=version.status_message,
        description=version.description,
        tags=dict(version.tags),
        author=version.author,
        artifact=artifact_from_pb(version.artifact) if version.artifact.files else None,
        columns=tuple(DatasetColumn(c.name, c.type) for c in version.columns),
        row_count=version.row_count,
        created_at=time_from_pb(version.created_at),
        updated_at=time_from_pb(version.updated_at),
        links=tuple(link_from_pb(link) for link in version.links),
    )


def columns_to_pb(columns: Iterable[DatasetColumn]) -> list[datasets_pb2.DatasetColumn]:
    return [datasets_pb2.DatasetColumn(name=c.name, type=c.type) for c in columns]
