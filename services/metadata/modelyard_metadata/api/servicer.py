"""MetadataService over gRPC: unpack the request, call one use case, convert the result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc

from modelyard.v1 import metadata_pb2, metadata_pb2_grpc
from modelyard_metadata.api import convert, wire
from modelyard_metadata.api.callers import Callers
from modelyard_metadata.domain.catalog import Catalog
from modelyard_metadata.domain.consumers import Consumers
from modelyard_metadata.domain.entities import PlatformInfo
from modelyard_metadata.domain.ports import AuditQuery

__all__ = ["MetadataServicer"]

Context = grpc.aio.ServicerContext[Any, Any]

_DIRECTIONS = {
    metadata_pb2.LINEAGE_DIRECTION_UNSPECIFIED: (True, True),
    metadata_pb2.LINEAGE_DIRECTION_BOTH: (True, True),
    metadata_pb2.LINEAGE_DIRECTION_UPSTREAM: (True, False),
    metadata_pb2.LINEAGE_DIRECTION_DOWNSTREAM: (False, True),
}


def _audit_query(request: metadata_pb2.ListAuditEventsRequest | metadata_pb2.WatchEventsRequest) -> AuditQuery:
    since = None
    if isinstance(request, metadata_pb2.ListAuditEventsRequest) and request.HasField("since"):
        since = convert.time_from_pb("since", request.since)
    actor = request.actor if isinstance(request, metadata_pb2.ListAuditEventsRequest) else ""
    return AuditQuery(project=request.project, resource=request.resource, actor=actor, since=since)


class MetadataServicer(metadata_pb2_grpc.MetadataServiceServicer):
    def __init__(self, catalog: Catalog, callers: Callers, platform: PlatformInfo, consumers: Consumers) -> None:
        self._catalog = catalog
        self._callers = callers
        self._platform = platform
        self._consumers = consumers

    async def CreateProject(
        self, request: metadata_pb2.CreateProjectRequest, context: Context
    ) -> metadata_pb2.CreateProjectResponse:
        project = await self._catalog.projects.create(
            await self._callers.current(), request.name, request.description, request.owner
        )
        return metadata_pb2.CreateProjectResponse(project=convert.project_to_pb(project))

    async def GetProject(
        self, request: metadata_pb2.GetProjectRequest, context: Context
    ) -> metadata_pb2.GetProjectResponse:
        return metadata_pb2.GetProjectResponse(
            project=convert.project_to_pb(await self._catalog.projects.get(await self._callers.current(), request.name))
        )

    async def ListProjects(
        self, request: metadata_pb2.ListProjectsRequest, context: Context
    ) -> metadata_pb2.ListProjectsResponse:
        projects, token = await self._catalog.projects.list_projects(
            await self._callers.current(), request.page_size, request.page_token
        )
        return metadata_pb2.ListProjectsResponse(
            projects=[convert.project_to_pb(p) for p in projects], next_page_token=token
        )

    async def GetProjectSummary(
        self, request: metadata_pb2.GetProjectSummaryRequest, context: Context
    ) -> metadata_pb2.GetProjectSummaryResponse:
        project, stats = await self._catalog.projects.summary(
            await self._callers.current(), request.project, request.metric
        )
        return convert.summary_to_pb(project, stats, request.metric)

    async def CreateModel(
        self, request: metadata_pb2.CreateModelRequest, context: Context
    ) -> metadata_pb2.CreateModelResponse:
        m = request.model
        model = await self._catalog.models.create(
            await self._callers.current(),
            m.project,
            m.name,
            description=m.description,
            owner=m.owner,
            team=m.team,
            kind=convert.kind_from_pb("model.kind", m.kind),
            tags=dict(m.tags),
            code_location=convert.location_from_pb(m.code_location),
            data_location=convert.location_from_pb(m.data_location),
        )
        return metadata_pb2.CreateModelResponse(model=convert.model_to_pb(model))

    async def GetModel(self, request: metadata_pb2.GetModelRequest, context: Context) -> metadata_pb2.GetModelResponse:
        return metadata_pb2.GetModelResponse(
            model=convert.model_to_pb(await self._catalog.models.get(await self._callers.current(), request.name))
        )

    async def ListModels(
        self, request: metadata_pb2.ListModelsRequest, context: Context
    ) -> metadata_pb2.ListModelsResponse:
        models, token = await self._catalog.models.list_models(
            await self._callers.current(),
            request.project,
            request.include_archived,
            request.page_size,
            request.page_token,
        )
        return metadata_pb2.ListModelsResponse(models=[convert.model_to_pb(m) for m in models], next_page_token=token)

    async def UpdateModel(
        self, request: metadata_pb2.UpdateModelRequest, context: Context
    ) -> metadata_pb2.UpdateModelResponse:
        changes = convert.model_changes_from_pb(request.model, request.update_mask.paths)
        name = f"{request.model.project}/{request.model.name}"
        model = await self._catalog.models.update(await self._callers.current(), name, changes, request.reason)
        return metadata_pb2.UpdateModelResponse(model=convert.model_to_pb(model))

    async def ArchiveModel(
        self, request: metadata_pb2.ArchiveModelRequest, context: Context
    ) -> metadata_pb2.ArchiveModelResponse:
        model = await self._catalog.models.archive(await self._callers.current(), request.name, request.reason)
        return metadata_pb2.ArchiveModelResponse(model=convert.model_to_pb(model))

    # The RPCs answering versions answer with their responses serialized already (api/wire.py),
    # which the interceptor sends as they are; the stubs know only messages.
    async def CreateModelVersion(  # type: ignore[override]
        self, request: metadata_pb2.CreateModelVersionRequest, context: Context
    ) -> bytes:
        version = await self._catalog.versions.create(
            await self._callers.current(), request.model, convert.version_spec_from_pb(request)
        )
        return wire.version_response(version)

    async def GetModelVersion(  # type: ignore[override]
        self, request: metadata_pb2.GetModelVersionRequest, context: Context
    ) -> bytes:
        version = await self._catalog.versions.get_encoded(self._callers.current(), request.reference)
        return wire.version_response(version)

    async def ListModelVersions(
        self, request: metadata_pb2.ListModelVersionsRequest, context: Context
    ) -> metadata_pb2.ListModelVersionsResponse:
        versions, token = await self._catalog.versions.list_versions(
            await self._callers.current(), request.model, request.page_size, request.page_token
        )
        return metadata_pb2.ListModelVersionsResponse(
            versions=[convert.version_to_pb(v) for v in versions], next_page_token=token
        )

    async def UpdateModelVersion(  # type: ignore[override]
        self, request: metadata_pb2.UpdateModelVersionRequest, context: Context
    ) -> bytes:
        changes = convert.version_changes_from_pb(request.version, request.update_mask.paths)
        version = await self._catalog.versions.update(
            await self._callers.current(), request.reference, changes, request.reason
        )
        return wire.version_response(version)

    async def SearchModelVersions(  # type: ignore[override]
        self, request: metadata_pb2.SearchModelVersionsRequest, context: Context
    ) -> bytes:
        versions, token = await self._catalog.versions.search(
            await self._callers.current(),
            request.filter,
            request.order_by,
            request.project,
            request.page_size,
            request.page_token,
        )
        return wire.search_response(versions, token)

    async def LogMetrics(  # type: ignore[override]
        self, request: metadata_pb2.LogMetricsRequest, context: Context
    ) -> bytes:
        now = datetime.now(UTC)
        points = [convert.metric_from_pb(i, m, now) for i, m in enumerate(request.metrics)]
        version = await self._catalog.metrics.log(await self._callers.current(), request.reference, points)
        return wire.version_response(version)

    async def GetMetricHistory(
        self, request: metadata_pb2.GetMetricHistoryRequest, context: Context
    ) -> metadata_pb2.GetMetricHistoryResponse:
        points = await self._catalog.metrics.history(await self._callers.current(), request.reference, request.name)
        return metadata_pb2.GetMetricHistoryResponse(points=[convert.metric_to_pb(p) for p in points])

    async def TransitionStage(  # type: ignore[override]
        self, request: metadata_pb2.TransitionStageRequest, context: Context
    ) -> bytes:
        stage = convert.stage_from_pb("stage", request.stage)
        version = await self._catalog.lifecycle.transition_stage(
            await self._callers.current(), request.reference, stage, request.reason
        )
        return wire.version_response(version)

    async def SetAlias(self, request: metadata_pb2.SetAliasRequest, context: Context) -> metadata_pb2.SetAliasResponse:
        version, previous = await self._catalog.lifecycle.set_alias(
            await self._callers.current(), request.model, request.alias, request.version, request.reason
        )
        return metadata_pb2.SetAliasResponse(version=convert.version_to_pb(version), previous_version=previous)

    async def DeleteAlias(
        self, request: metadata_pb2.DeleteAliasRequest, context: Context
    ) -> metadata_pb2.DeleteAliasResponse:
        previous = await self._catalog.lifecycle.delete_alias(
            await self._callers.current(), request.model, request.alias, request.reason
        )
        return metadata_pb2.DeleteAliasResponse(previous_version=previous)

    async def GetLineage(
        self, request: metadata_pb2.GetLineageRequest, context: Context
    ) -> metadata_pb2.GetLineageResponse:
        upstream, downstream = _DIRECTIONS.get(request.direction, (True, True))
        root, nodes, edges, left_out = await self._catalog.lineage.of(
            await self._callers.current(), request.reference, upstream, downstream, request.depth
        )
        return convert.lineage_to_pb(root, nodes, edges, left_out)

    async def CompareVersions(
        self, request: metadata_pb2.CompareVersionsRequest, context: Context
    ) -> metadata_pb2.CompareVersionsResponse:
        return convert.comparison_to_pb(
            await self._catalog.versions.compare(await self._callers.current(), request.references)
        )

    async def ListVersionConsumers(
        self, request: metadata_pb2.ListVersionConsumersRequest, context: Context
    ) -> metadata_pb2.ListVersionConsumersResponse:
        version, consumers, team_count = await self._consumers.of_version(
            await self._callers.current(), request.reference
        )
        return convert.consumers_to_pb(version.reference, consumers, team_count)

    async def ListAuditEvents(
        self, request: metadata_pb2.ListAuditEventsRequest, context: Context
    ) -> metadata_pb2.ListAuditEventsResponse:
        events, token = await self._catalog.audit.list_events(
            await self._callers.current(), _audit_query(request), request.page_size, request.page_token
        )
        return metadata_pb2.ListAuditEventsResponse(
            events=[convert.audit_to_pb(e) for e in events], next_page_token=token
        )

    async def WatchEvents(
        self, request: metadata_pb2.WatchEventsRequest, context: Context
    ) -> AsyncIterator[metadata_pb2.WatchEventsResponse]:
        async for event in self._catalog.audit.watch(
            await self._callers.current(), _audit_query(request), request.after_id
        ):
            yield metadata_pb2.WatchEventsResponse(event=convert.audit_to_pb(event))

    async def CommitArtifact(  # type: ignore[override]
        self, request: metadata_pb2.CommitArtifactRequest, context: Context
    ) -> bytes:
        version = await self._catalog.artifacts.commit(
            await self._callers.current(), request.reference, convert.artifact_from_pb(request.artifact)
        )
        return wire.version_response(version)

    async def FailUpload(  # type: ignore[override]
        self, request: metadata_pb2.FailUploadRequest, context: Context
    ) -> bytes:
        version = await self._catalog.artifacts.fail_upload(
            await self._callers.current(), request.reference, request.reason
        )
        return wire.version_response(version)

    async def RecordServiceEvents(
        self, request: metadata_pb2.RecordServiceEventsRequest, context: Context
    ) -> metadata_pb2.RecordServiceEventsResponse:
        recorded = await self._catalog.service_events.record(
            await self._callers.current(), [convert.service_event_from_pb(e) for e in request.events]
        )
        return metadata_pb2.RecordServiceEventsResponse(recorded=recorded)

    async def GetPlatformInfo(
        self, request: metadata_pb2.GetPlatformInfoRequest, context: Context
    ) -> metadata_pb2.GetPlatformInfoResponse:
        # Authenticates (with authentication on): any valid token will do, as the answer holds
        # only addresses; a serving credential is refused, as for any RPC but GetModelVersion.
        await self._callers.current()
        return convert.platform_info_to_pb(self._platform)
