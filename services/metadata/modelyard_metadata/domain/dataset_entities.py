"""What the metadata service knows about datasets: datasets, their versions (with the schema and
row count the registry read from the bytes) and their links to model versions."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelyard_common.values import DATASET_REFERENCE_PREFIX
from modelyard_metadata.domain.entities import VersionStatus

__all__ = [
    "Dataset",
    "DatasetColumn",
    "DatasetFormat",
    "DatasetLink",
    "DatasetUse",
    "DatasetVersion",
    "NewDatasetVersion",
    "audited",
]


def audited(name: str) -> str:
    """The audit log's resource for a dataset or dataset version ("dataset:p/d:2"), as the
    registry names it: apart from a model's of the same name."""
    return DATASET_REFERENCE_PREFIX + name


class DatasetFormat(enum.StrEnum):
    PARQUET = "PARQUET"
    CSV = "CSV"


class DatasetUse(enum.StrEnum):
    """How a model version used a dataset version."""

    TRAINED_ON = "TRAINED_ON"
    TESTED_ON = "TESTED_ON"
    PRODUCED_BY = "PRODUCED_BY"


@dataclass(frozen=True, slots=True)
class Dataset:
    id: int
    project: str
    name: str
    description: str
    created_by: str
    created_at: datetime
    latest_version: int

    @property
    def full_name(self) -> str:
        return f"{self.project}/{self.name}"


@dataclass(frozen=True, slots=True)
class DatasetColumn:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class DatasetLink:
    model_version: str  # "project/model:3"
    dataset_version: str  # "project/dataset:2"
    use: DatasetUse
    created_by: str
    created_at: datetime

    @property
    def model_project(self) -> str:
        return self.model_version.partition("/")[0]


@dataclass(frozen=True, slots=True)
class NewDatasetVersion:
    dataset_id: int
    project: str
    dataset: str
    version: int
    format: DatasetFormat
    description: str
    tags: dict[str, str]
    author: str


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    id: int
    dataset_id: int
    project: str
    dataset: str
    version: int
    format: DatasetFormat
    description: str
    tags: dict[str, str]
    author: str
    status: VersionStatus
    status_message: str
    artifact: dict[str, Any]
    columns: tuple[DatasetColumn, ...]
    row_count: int
    created_at: datetime
    updated_at: datetime
    links: tuple[DatasetLink, ...] = ()

    @property
    def reference(self) -> str:
        return f"{self.project}/{self.dataset}:{self.version}"
