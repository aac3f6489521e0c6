"""Batch scoring jobs as the SDK returns them (JobService, on the deploy service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from modelyard._types import _NamedEnum

__all__ = ["Job", "JobInput", "JobState"]


class JobState(_NamedEnum):
    UNSPECIFIED = "UNSPECIFIED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True, slots=True)
class JobInput:
    """Model input ``name`` takes these dataset columns, stacked on the last axis in this order."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Job:
    """A batch scoring job: ``version_reference`` scored on ``input_dataset``, its predictions
    joined to ``key_column`` registered as ``output_version`` (a version of ``output_dataset``)."""

    id: str
    project: str
    model_reference: str
    version_reference: str
    input_dataset: str
    key_column: str
    output_dataset: str
    state: JobState
    inputs: tuple[JobInput, ...] = ()
    chunk_rows: int = 0
    workers: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    rows_total: int = 0
    rows_done: int = 0
    output_version: str = ""
    error: str = ""
    trusted_types: tuple[str, ...] = ()
    created_by: str = ""
    created_at: datetime | None = field(default=None, compare=False)
    updated_at: datetime | None = field(default=None, compare=False)
    started_at: datetime | None = field(default=None, compare=False)
    finished_at: datetime | None = field(default=None, compare=False)
