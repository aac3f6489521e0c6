"""Dataset messages <-> domain values."""

from __future__ import annotations

from typing import Any

from modelyard._wire import ProtoEnum, time_to_pb
from modelyard.v1 import datasets_pb2
from modelyard_metadata.api.convert import artifact_to_pb, status_pb
from modelyard_metadata.domain.dataset_entities import (
    Dataset,
    DatasetColumn,
    DatasetFormat,
    DatasetLink,
    DatasetUse,
    DatasetVersion,
)

__all__ = ["FORMAT", "USE", "columns_from_pb", "dataset_to_pb", "link_to_pb", "version_to_pb"]

FORMAT = ProtoEnum(DatasetFormat, datasets_pb2.DatasetFormat.Value, "DATASET_FORMAT_")
USE = ProtoEnum(DatasetUse, datasets_pb2.DatasetUse.Value, "DATASET_USE_")


def dataset_to_pb(dataset: Dataset) -> datasets_pb2.Dataset:
    return datasets_pb2.Dataset(
        project=dataset.project,
        name=dataset.name,
        description=dataset.description,
        created_by=dataset.created_by,
        created_at=time_to_pb(dataset.created_at),
        latest_version=dataset.latest_version,
    )


def link_to_pb(link: DatasetLink) -> datasets_pb2.DatasetLink:
    return datasets_pb2.DatasetLink(
        model_version=link.model_version,
        dataset_version=link.dataset_version,
        use=datasets_pb2.DatasetUse.ValueType(USE.to_pb(link.use)),
        created_by=link.created_by,
        created_at=time_to_pb(link.created_at),
    )


def version_to_pb(version: DatasetVersion) -> datasets_pb2.DatasetVersion:
    return datasets_pb2.DatasetVersion(
        project=version.project,
        dataset=version.dataset,
        version=version.version,
        reference=version.reference,
        format=datasets_pb2.DatasetFormat.ValueType(FORMAT.to_pb(version.format)),
        description=version.description,
        tags=version.tags,
        author=version.author,
        status=status_pb(version.status),
        status_message=version.status_message,
        artifact=artifact_to_pb(version.artifact),
        columns=[datasets_pb2.DatasetColumn(name=c.name, type=c.type) for c in version.columns],
        row_count=version.row_count,
        created_at=time_to_pb(version.created_at),
        updated_at=time_to_pb(version.updated_at),
        links=[link_to_pb(link) for link in version.links],
    )


def columns_from_pb(columns: Any) -> tuple[DatasetColumn, ...]:
    return tuple(DatasetColumn(c.name, c.type) for c in columns)
