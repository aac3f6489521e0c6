"""JobService over gRPC: unpack the request, call one use case, convert the result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from modelyard.v1 import jobs_pb2, jobs_pb2_grpc
from modelyard_deploy.api.job_convert import inputs_from_pb, job_to_pb
from modelyard_deploy.domain.jobs import Jobs

__all__ = ["JobServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, jobs: Jobs) -> None:
        self._jobs = jobs

    async def CreateJob(self, request: jobs_pb2.CreateJobRequest, context: Context) -> jobs_pb2.CreateJobResponse:
        job = await self._jobs.create(
            request.model_reference,
            request.input_dataset,
            request.key_column,
            inputs_from_pb(list(request.inputs)),
            request.output_dataset,
            request.chunk_rows,
            request.workers,
            request.trusted_types,
        )
        return jobs_pb2.CreateJobResponse(job=job_to_pb(job))

    async def GetJob(self, request: jobs_pb2.GetJobRequest, context: Context) -> jobs_pb2.GetJobResponse:
        return jobs_pb2.GetJobResponse(job=job_to_pb(await self._jobs.get(request.id)))

    async def ListJobs(self, request: jobs_pb2.ListJobsRequest, context: Context) -> jobs_pb2.ListJobsResponse:
        page = await self._jobs.page(request.project, request.page_size, request.page_token)
        return jobs_pb2.ListJobsResponse(jobs=[job_to_pb(j) for j in page.jobs], next_page_token=page.next_token)

    async def CancelJob(self, request: jobs_pb2.CancelJobRequest, context: Context) -> jobs_pb2.CancelJobResponse:
        return jobs_pb2.CancelJobResponse(job=job_to_pb(await self._jobs.cancel(request.id, request.reason)))

    async def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: Context
    ) -> AsyncIterator[jobs_pb2.WatchJobResponse]:
        async for job in self._jobs.watch(request.id):
            yield jobs_pb2.WatchJobResponse(job=job_to_pb(job))
