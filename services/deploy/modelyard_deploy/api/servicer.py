"""DeployService over gRPC: unpack the request, call one use case, convert the result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from modelyard.v1 import deploy_pb2, deploy_pb2_grpc
from modelyard_deploy.api import convert
from modelyard_deploy.domain.deployments import Deployments

__all__ = ["DeployServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class DeployServicer(deploy_pb2_grpc.DeployServiceServicer):
    def __init__(self, deployments: Deployments) -> None:
        self._deployments = deployments

    async def CreateDeployment(
        self, request: deploy_pb2.CreateDeploymentRequest, context: Context
    ) -> deploy_pb2.CreateDeploymentResponse:
        deployment = await self._deployments.create(
            request.name,
            request.model_reference,
            request.replicas if request.replicas else 1,
            convert.runtime_from_pb(request.runtime),
            request.trusted_types,
        )
        return deploy_pb2.CreateDeploymentResponse(deployment=convert.deployment_to_pb(deployment))

    async def GetDeployment(
        self, request: deploy_pb2.GetDeploymentRequest, context: Context
    ) -> deploy_pb2.GetDeploymentResponse:
        deployment = await self._deployments.get(request.name)
        return deploy_pb2.GetDeploymentResponse(deployment=convert.deployment_to_pb(deployment))

    async def ListDeployments(
        self, request: deploy_pb2.ListDeploymentsRequest, context: Context
    ) -> deploy_pb2.ListDeploymentsResponse:
        page = await self._deployments.page(request.project, request.page_size, request.page_token)
        return deploy_pb2.ListDeploymentsResponse(
            deployments=[convert.deployment_to_pb(d) for d in page.deployments], next_page_token=page.next_token
        )

    async def UpdateDeployment(
        self, request: deploy_pb2.UpdateDeploymentRequest, context: Context
    ) -> deploy_pb2.UpdateDeploymentResponse:
        replicas = request.replicas if request.HasField("replicas") else None
        trusted = request.trusted_types.types if request.HasField("trusted_types") else None
        deployment, created = await self._deployments.update(
            request.name, request.model_reference, replicas, request.reason, trusted
        )
        return deploy_pb2.UpdateDeploymentResponse(
            deployment=convert.deployment_to_pb(deployment), created_revision=created
        )

    async def RollbackDeployment(
        self, request: deploy_pb2.RollbackDeploymentRequest, context: Context
    ) -> deploy_pb2.RollbackDeploymentResponse:
        deployment, created = await self._deployments.rollback(request.name, request.revision, request.reason)
        return deploy_pb2.RollbackDeploymentResponse(
            deployment=convert.deployment_to_pb(deployment), created_revision=created
        )

    async def DeleteDeployment(
        self, request: deploy_pb2.DeleteDeploymentRequest, context: Context
    ) -> deploy_pb2.DeleteDeploymentResponse:
        await self._deployments.delete(request.name)
        return deploy_pb2.DeleteDeploymentResponse()

    async def ListDeploymentRevisions(
        self, request: deploy_pb2.ListDeploymentRevisionsRequest, context: Context
    ) -> deploy_pb2.ListDeploymentRevisionsResponse:
        revisions = await self._deployments.revisions(request.name)
        return deploy_pb2.ListDeploymentRevisionsResponse(revisions=[convert.revision_to_pb(r) for r in revisions])

    async def WatchDeployment(
        self, request: deploy_pb2.WatchDeploymentRequest, context: Context
    ) -> AsyncIterator[deploy_pb2.WatchDeploymentResponse]:
        async for deployment in self._deployments.watch(request.name):
            yield deploy_pb2.WatchDeploymentResponse(deployment=convert.deployment_to_pb(deployment))
