"""Job entities <-> JobService messages."""

from __future__ import annotations

from modelyard._wire import ProtoEnum, time_to_pb
from modelyard.v1 import jobs_pb2
from modelyard_deploy.domain.job_entities import Job, JobInput, JobState

__all__ = ["inputs_from_pb", "job_to_pb"]

_STATES = ProtoEnum(JobState, jobs_pb2.JobState.Value, "JOB_STATE_")


def job_to_pb(job: Job) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        id=job.id,
        project=job.project,
        model_reference=job.model_reference,
        version_reference=job.version_reference,
        input_dataset=job.input_dataset,
        key_column=job.key_column,
        inputs=[jobs_pb2.JobInput(name=i.name, columns=i.columns) for i in job.inputs],
        output_dataset=job.output_dataset,
        chunk_rows=job.chunk_rows,
        workers=job.workers,
        state=jobs_pb2.JobState.ValueType(_STATES.to_pb(job.state)),
        chunks_total=job.chunks_total,
        chunks_done=job.chunks_done,
        rows_total=job.rows_total,
        rows_done=job.rows_done,
        output_version=job.output_version,
        error=job.error,
        trusted_types=job.trusted_types,
        created_by=job.created_by,
        create_time=time_to_pb(job.created_at) if job.created_at else None,
        update_time=time_to_pb(job.updated_at) if job.updated_at else None,
        start_time=time_to_pb(job.started_at) if job.started_at else None,
        finish_time=time_to_pb(job.finished_at) if job.finished_at else None,
    )


def inputs_from_pb(inputs: list[jobs_pb2.JobInput]) -> list[JobInput]:
    return [JobInput(i.name, tuple(i.columns)) for i in inputs]
