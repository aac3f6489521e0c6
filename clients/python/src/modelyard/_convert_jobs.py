"""JobService messages -> SDK types."""

from __future__ import annotations

from typing import Any

from modelyard._convert import optional_time, read_enum
from modelyard._job_types import Job, JobInput, JobState
from modelyard._wire import ProtoEnum
from modelyard.v1 import jobs_pb2

__all__ = ["job_of"]

JOB_STATES = ProtoEnum(JobState, jobs_pb2.JobState.Value, "JOB_STATE_")


def job_from_pb(job: jobs_pb2.Job) -> Job:
    return Job(
        id=job.id,
        project=job.project,
        model_reference=job.model_reference,
        version_reference=job.version_reference,
        input_dataset=job.input_dataset,
        key_column=job.key_column,
        output_dataset=job.output_dataset,
        state=read_enum(JOB_STATES, job.state),
        inputs=tuple(JobInput(i.name, tuple(i.columns)) for i in job.inputs),
        chunk_rows=job.chunk_rows,
        workers=job.workers,
        chunks_total=job.chunks_total,
        chunks_done=job.chunks_done,
        rows_total=job.rows_total,
        rows_done=job.rows_done,
        output_version=job.output_version,
        error=job.error,
        trusted_types=tuple(job.trusted_types),
        created_by=job.created_by,
        created_at=optional_time(job, "create_time"),
        updated_at=optional_time(job, "update_time"),
        started_at=optional_time(job, "start_time"),
        finished_at=optional_time(job, "finish_time"),
    )


def job_of(response: Any) -> Job:
    """The job a response holds in its ``job`` field."""
    return job_from_pb(response.job)
