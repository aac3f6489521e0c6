"""What the job use cases and the job runner need from the outside (storage/, runtimes/)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the domain loads no numerical library (numpy loads ctypes)
    import numpy as np

from modelyard_deploy.domain.job_entities import DatasetInfo, Job, JobState, ModelInfo

__all__ = ["JobCatalog", "JobFolders", "JobOutput", "JobStore", "Predictions", "ScoredChunk", "WorkerError"]


class WorkerError(Exception):
    """A predictor worker failed (could not load the model, raised, died, or broke the wire):
    the job fails with this message."""


class JobStore(Protocol):
    """The deploy schema's jobs and their finished chunks. NotFoundError for an unknown id."""

    async def create(self, job: Job) -> Job: ...
    async def get(self, job_id: str) -> Job: ...
    async def page(self, project: str, before: int, limit: int) -> list[tuple[Job, int]]:
        """A project's jobs newest first, each with its position (a page token), those before ``before``."""
        ...

    async def cancel(self, job_id: str, actor: str, reason: str) -> Job:
        """CANCELLING (recorded with who and why), unless it is CANCELLING already;
        FailedPreconditionError for a finished job, or one registering its output."""
        ...

    async def unfinished(self) -> list[Job]:
        """QUEUED, RUNNING and CANCELLING jobs, oldest first."""
        ...

    async def states(self, job_ids: Collection[str]) -> dict[str, JobState]:
        """The state of each of ``job_ids`` that exists."""
        ...

    async def start(self, job_id: str) -> Job:
        """RUNNING (from QUEUED; a RUNNING one, resumed, stays so)."""
        ...

    async def chunks(self, job_id: str) -> dict[int, int]:
        """Its finished chunks: index -> rows."""
        ...

    async def forget_chunks(self, job_id: str, indexes: Collection[int]) -> None: ...
    async def record_chunk(self, job_id: str, index: int, rows: int) -> None:
        """Chunk ``index`` finished (once: a repeat is ignored)."""
        ...

    async def begin_publish(self, job_id: str) -> bool:
        """The job, RUNNING, begins registering its output: from then on it is not cancelled
        (atomically: a cancel is recorded either before, and this answers False, or never)."""
        ...

    async def finish(self, job_id: str, state: JobState, output_version: str = "", error: str = "") -> Job:
        """The final state, recorded with the job's finish event: SUCCEEDED only from RUNNING,
        CANCELLED only from CANCELLING, FAILED from any; a job finished already (or in another
        state) is left as it is."""
        ...


class JobCatalog(Protocol):
    """Metadata and registry, as the deploy service reaches them with its own token."""

    async def model_version(self, reference: str) -> ModelInfo: ...
    async def dataset_version(self, reference: str) -> DatasetInfo: ...
    async def download(self, dataset: DatasetInfo) -> Path:
        """The READY dataset version's file, through the local cache (by its digest: no lookup)."""
        ...

    async def publish(self, job: Job, path: Path) -> str:
        """Registers ``path`` as a new version of the job's output dataset (created if
        missing), authored by the job's creator, PRODUCED_BY its model version and tagged with
        the job and its input; once only: a version of this job registered before is returned."""
        ...


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    """One chunk of the input: its index, the extra columns asked for, the model's outputs."""

    index: int
    columns: Any  # a pyarrow.Table
    outputs: Mapping[str, np.ndarray[Any, Any]]

    @property
    def rows(self) -> int:
        return int(self.columns.num_rows)


class Predictions(Protocol):
    """Streams a dataset file's chunks through predictor workers of one model version (which are
    stopped when the stream is closed: ``contextlib.aclosing``)."""

    def predict_chunks(
        self,
        version_reference: str,
        dataset_path: Path,
        inputs: Mapping[str, Sequence[str]],
        chunk_rows: int,
        workers: int,
        extra_columns: Sequence[str] = (),
        *,
        dtypes: Mapping[str, str] | None = None,
        column_types: Mapping[str, str] | None = None,
        trusted_types: Sequence[str] = (),
        skip: Collection[int] = (),
        job: str = "",
    ) -> AsyncGenerator[ScoredChunk, None]: ...


class JobOutput(Protocol):
    """A job's output on local disk: a part per finished chunk, merged at the end (blocking calls)."""

    def write(self, index: int, columns: Any, outputs: Mapping[str, np.ndarray[Any, Any]]) -> None:
        """Part ``index``: the chunk's columns joined to its outputs, whole or not at all."""
        ...

    def present(self, indexes: Collection[int]) -> set[int]: ...
    def merge(self, count: int) -> Path:
        """Parts 0..count-1 as one Parquet file."""
        ...

    def remove(self) -> None: ...


class JobFolders(Protocol):
    """The folders of the jobs' parts and workers' logs on local disk, by job id (blocking calls)."""

    def names(self) -> list[str]: ...
    def remove(self, name: str) -> None: ...
