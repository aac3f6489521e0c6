"""Job entities <-> JobService messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from modelyard.v1 import jobs_pb2
from modelyard_deploy.domain.job_entities import Job, JobInput

__all__ = ["inputs_from_pb", "job_to_pb"]


def _time(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


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
        state=jobs_pb2.JobState.Value(f"JOB_STATE_{job.state.value}"),
        chunks_total=job.chunks_total,
        chunks_done=job.chunks_done,
        rows_total=job.rows_total,
        rows_done=job.rows_done,
        output_version=job.output_version,
        error=job.error,
        trusted_types=job.trusted_types,
        created_by=job.created_by,
        create_time=_time(job.created_at),
        update_time=_time(job.updated_at),
        start_time=_time(job.started_at),
        finish_time=_time(job.finished_at),
    )


def inputs_from_pb(inputs: list[jobs_pb2.JobInput]) -> list[JobInput]:
    return [JobInput(i.name, tuple(i.columns)) for i in inputs]
