"""Batch scoring jobs: what one asks for and how far it got."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from modelyard_common.values import JobInput, JobState

__all__ = ["DatasetInfo", "Job", "JobInput", "JobState", "ModelInfo", "TensorInfo"]


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    project: str
    model_reference: str
    version_reference: str
    input_dataset: str
    key_column: str
    inputs: tuple[JobInput, ...]
    output_dataset: str
    chunk_rows: int
    workers: int
    state: JobState
    chunks_total: int
    rows_total: int
    created_by: str
    chunks_done: int = 0
    rows_done: int = 0
    output_version: str = ""
    error: str = ""
    trusted_types: tuple[str, ...] = ()
    """Types its workers trust in skops files beyond skops' defaults."""
    input_dtypes: tuple[str, ...] = ()
    """The OIP datatype each of ``inputs`` is cast to (the model's declared one; FP64 if none)."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    datatype: str


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model version as a job needs it: canonical reference, status, declared inputs."""

    reference: str
    project: str
    status: str
    inputs: tuple[TensorInfo, ...]


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """A dataset version as a job needs it."""

    reference: str
    project: str
    status: str
    format: str
    columns: tuple[tuple[str, str], ...]
    """(name, type) with Arrow's type names."""
    row_count: int
    file: str = ""
    """Its file's name in the registry (READY: it has one), and that file's SHA-256."""
    sha256: str = ""
