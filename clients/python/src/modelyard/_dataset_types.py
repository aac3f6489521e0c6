"""What the SDK returns about datasets (grpc-free), and how a dataset version is named to the
registry, which carries its bytes like a model version's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath

from modelyard._types import Artifact, VersionStatus, _NamedEnum

__all__ = [
    "DATASET_REFERENCE_PREFIX",
    "Dataset",
    "DatasetColumn",
    "DatasetFormat",
    "DatasetLink",
    "DatasetUse",
    "DatasetVersion",
    "dataset_of_registry_reference",
    "registry_reference",
]

# The registry's RegistryService names a dataset version "dataset:project/dataset:3": no model
# reference starts so (a project name has no ':'), so both kinds share its upload path.
DATASET_REFERENCE_PREFIX = "dataset:"


def registry_reference(dataset_reference: str) -> str:
    """The registry's name of a dataset version: "p/d:3" -> "dataset:p/d:3"."""
    return DATASET_REFERENCE_PREFIX + dataset_reference


def dataset_of_registry_reference(reference: str) -> str | None:
    """The dataset version a registry reference names ("dataset:p/d:3" -> "p/d:3"), or None for
    a model version's."""
    return reference.removeprefix(DATASET_REFERENCE_PREFIX) if reference.startswith(DATASET_REFERENCE_PREFIX) else None


class DatasetFormat(_NamedEnum):
    UNSPECIFIED = "UNSPECIFIED"
    PARQUET = "PARQUET"
    CSV = "CSV"

    @classmethod
    def of_file(cls, path: str | PurePath) -> DatasetFormat:
        """The format a file's suffix says (.parquet, .pq, .csv); ValueError for another."""
        suffix = PurePath(path).suffix.lower()
        if suffix in (".parquet", ".pq"):
            return cls.PARQUET
        if suffix == ".csv":
            return cls.CSV
        raise ValueError(f"{str(path)!r}: cannot tell the format from its suffix; give PARQUET or CSV")


class DatasetUse(_NamedEnum):
    """How a model version used a dataset version: trained or tested on it, or produced it."""

    UNSPECIFIED = "UNSPECIFIED"
    TRAINED_ON = "TRAINED_ON"
    TESTED_ON = "TESTED_ON"
    PRODUCED_BY = "PRODUCED_BY"


@dataclass(frozen=True, slots=True)
class Dataset:
    project: str
    name: str
    description: str = ""
    created_by: str = ""
    created_at: datetime | None = None
    latest_version: int = 0

    @property
    def full_name(self) -> str:
        return f"{self.project}/{self.name}"


@dataclass(frozen=True, slots=True)
class DatasetColumn:
    """A column as the platform read it: Arrow's type name ("int64", "double", "string"...)."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class DatasetLink:
    model_version: str
    dataset_version: str
    use: DatasetUse
    created_by: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One version of a dataset; ``columns`` and ``row_count`` are read by the platform from its
    bytes once READY; ``links``: the model versions trained or tested on it, or that produced it."""

    project: str
    dataset: str
    version: int
    reference: str
    format: DatasetFormat
    status: VersionStatus = VersionStatus.PENDING_UPLOAD
    status_message: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    author: str = ""
    artifact: Artifact | None = None
    columns: tuple[DatasetColumn, ...] = ()
    row_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    links: tuple[DatasetLink, ...] = ()
