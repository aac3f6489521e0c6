"""The calls of JobService (batch scoring jobs, served by the deploy service), written once for
``Client`` and ``AsyncClient`` (see ``_calls``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from modelyard._calls import Calls, Pages, R, Stream, Unary, iterating, unary
from modelyard._connection import JOBS
from modelyard._convert_jobs import job_from_pb, job_of
from modelyard._deploy_calls import _type_names
from modelyard._job_types import Job
from modelyard.v1 import jobs_pb2

__all__ = ["JobCalls"]


class JobCalls(Calls[R]):
    """Every JobService method."""

    @unary
    def create_job(
        self,
        reference: str,
        *,
        dataset: str,
        key: str,
        output: str,
        inputs: Mapping[str, Sequence[str]] | None = None,
        chunk_rows: int = 0,
        workers: int = 0,
        trusted_types: Iterable[str] = (),
    ) -> Unary[Job]:
        """Scores dataset version ``dataset`` ("p/d:N") with model version ``reference`` and
        registers the predictions, joined to column ``key``, as a new version of dataset
        ``output`` ("p/name", created if missing), all in one project. ``inputs``: model input
        -> the columns stacked into it (default: the model's one input takes every column but
        the key). ``trusted_types``: types its skops file may hold beyond those skops trusts
        by default (as for ``create_deployment``). Returns at once, QUEUED; see ``wait_job`` /
        ``watch_job``."""
        request = jobs_pb2.CreateJobRequest(
            model_reference=reference,
            input_dataset=dataset,
            key_column=key,
            output_dataset=output,
            inputs=[jobs_pb2.JobInput(name=n, columns=list(c)) for n, c in (inputs or {}).items()],
            chunk_rows=chunk_rows,
            workers=workers,
            trusted_types=_type_names(trusted_types),
        )
        return Unary("CreateJob", request, job_of, service=JOBS)

    @unary
    def get_job(self, job_id: str) -> Unary[Job]:
        return Unary("GetJob", jobs_pb2.GetJobRequest(id=job_id), job_of, service=JOBS)

    @iterating
    def list_jobs(self, project: str, *, limit: int | None = None) -> Pages[Job]:
        """A project's jobs, newest first."""
        request = jobs_pb2.ListJobsRequest(project=project)
        return Pages("ListJobs", request, lambda r: map(job_from_pb, r.jobs), limit, service=JOBS)

    @unary
    def cancel_job(self, job_id: str, *, reason: str = "") -> Unary[Job]:
        """Stops a queued or running job: CANCELLING, then CANCELLED (no output is registered)."""
        return Unary("CancelJob", jobs_pb2.CancelJobRequest(id=job_id, reason=reason), job_of, service=JOBS)

    @iterating
    def watch_job(self, job_id: str) -> Stream[Job]:
        """The job now, then after each change of its state or progress; ends once it is finished."""
        return Stream("WatchJob", jobs_pb2.WatchJobRequest(id=job_id), job_of, service=JOBS)
