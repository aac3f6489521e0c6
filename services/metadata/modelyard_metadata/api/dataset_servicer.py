"""DatasetService over gRPC: unpack the request, call one use case, convert the result."""

from __future__ import annotations

from typing import Any

import grpc

from modelyard.v1 import datasets_pb2, datasets_pb2_grpc
from modelyard_metadata.api import dataset_convert as dc
from modelyard_metadata.api.callers import Callers
from modelyard_metadata.api.convert import artifact_from_pb, time_from_pb
from modelyard_metadata.domain.dataset_lineage import DatasetLineage
from modelyard_metadata.domain.datasets import Datasets

__all__ = ["DatasetServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class DatasetServicer(datasets_pb2_grpc.DatasetServiceServicer):
    def __init__(self, datasets: Datasets, lineage: DatasetLineage, callers: Callers) -> None:
        self._datasets = datasets
        self._lineage = lineage
        self._callers = callers

    async def CreateDataset(
        self, request: datasets_pb2.CreateDatasetRequest, context: Context
    ) -> datasets_pb2.CreateDatasetResponse:
        dataset = await self._datasets.create(await self._callers.current(), request.name, request.description)
        return datasets_pb2.CreateDatasetResponse(dataset=dc.dataset_to_pb(dataset))

    async def GetDataset(
        self, request: datasets_pb2.GetDatasetRequest, context: Context
    ) -> datasets_pb2.GetDatasetResponse:
        dataset = await self._datasets.get(await self._callers.current(), request.name)
        return datasets_pb2.GetDatasetResponse(dataset=dc.dataset_to_pb(dataset))

    async def ListDatasets(
        self, request: datasets_pb2.ListDatasetsRequest, context: Context
    ) -> datasets_pb2.ListDatasetsResponse:
        found, token = await self._datasets.list_datasets(
            await self._callers.current(), request.project, request.page_size, request.page_token
        )
        return datasets_pb2.ListDatasetsResponse(datasets=[dc.dataset_to_pb(d) for d in found], next_page_token=token)

    async def CreateDatasetVersion(
        self, request: datasets_pb2.CreateDatasetVersionRequest, context: Context
    ) -> datasets_pb2.CreateDatasetVersionResponse:
        version = await self._datasets.create_version(
            await self._callers.current(),
            request.dataset,
            dc.FORMAT.from_pb(request.format),
            request.description,
            request.tags,
        )
        return datasets_pb2.CreateDatasetVersionResponse(version=dc.version_to_pb(version))

    async def GetDatasetVersion(
        self, request: datasets_pb2.GetDatasetVersionRequest, context: Context
    ) -> datasets_pb2.GetDatasetVersionResponse:
        version = await self._datasets.get_version(await self._callers.current(), request.reference)
        return datasets_pb2.GetDatasetVersionResponse(version=dc.version_to_pb(version))

    async def ListDatasetVersions(
        self, request: datasets_pb2.ListDatasetVersionsRequest, context: Context
    ) -> datasets_pb2.ListDatasetVersionsResponse:
        found, token = await self._datasets.list_versions(
            await self._callers.current(), request.dataset, request.page_size, request.page_token
        )
        return datasets_pb2.ListDatasetVersionsResponse(
            versions=[dc.version_to_pb(v) for v in found], next_page_token=token
        )

    async def SearchDatasets(
        self, request: datasets_pb2.SearchDatasetsRequest, context: Context
    ) -> datasets_pb2.SearchDatasetsResponse:
        found, token = await self._datasets.search(
            await self._callers.current(),
            request.column,
            request.type,
            request.project,
            request.page_size,
            request.page_token,
        )
        return datasets_pb2.SearchDatasetsResponse(versions=[dc.version_to_pb(v) for v in found], next_page_token=token)

    async def LinkDataset(
        self, request: datasets_pb2.LinkDatasetRequest, context: Context
    ) -> datasets_pb2.LinkDatasetResponse:
        link = await self._lineage.link(
            await self._callers.current(), request.model_version, request.dataset_version, dc.USE.from_pb(request.use)
        )
        return datasets_pb2.LinkDatasetResponse(link=dc.link_to_pb(link))

    async def ListDatasetLinks(
        self, request: datasets_pb2.ListDatasetLinksRequest, context: Context
    ) -> datasets_pb2.ListDatasetLinksResponse:
        links = await self._lineage.links_of(await self._callers.current(), request.model_version)
        return datasets_pb2.ListDatasetLinksResponse(links=[dc.link_to_pb(link) for link in links])

    async def CommitDatasetVersion(
        self, request: datasets_pb2.CommitDatasetVersionRequest, context: Context
    ) -> datasets_pb2.CommitDatasetVersionResponse:
        version = await self._datasets.commit(
            await self._callers.current(),
            request.reference,
            artifact_from_pb(request.artifact),
            dc.columns_from_pb(request.columns),
            request.row_count,
        )
        return datasets_pb2.CommitDatasetVersionResponse(version=dc.version_to_pb(version))

    async def FailDatasetVersion(
        self, request: datasets_pb2.FailDatasetVersionRequest, context: Context
    ) -> datasets_pb2.FailDatasetVersionResponse:
        version = await self._datasets.fail(await self._callers.current(), request.reference, request.reason)
        return datasets_pb2.FailDatasetVersionResponse(version=dc.version_to_pb(version))

    async def ListPendingDatasetVersions(
        self, request: datasets_pb2.ListPendingDatasetVersionsRequest, context: Context
    ) -> datasets_pb2.ListPendingDatasetVersionsResponse:
        found, token = await self._datasets.list_pending(
            await self._callers.current(),
            time_from_pb("updated_before", request.updated_before),
            request.page_size,
            request.page_token,
        )
        return datasets_pb2.ListPendingDatasetVersionsResponse(
            versions=[dc.version_to_pb(v) for v in found], next_page_token=token
        )
