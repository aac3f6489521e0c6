"""RegistryService over gRPC: unpack the request, call one use case (which checks the caller's
access), convert the result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_common.errors import InvalidArgumentError
from modelyard_registry.api import convert
from modelyard_registry.domain.downloads import Downloads
from modelyard_registry.domain.uploads import Uploads

__all__ = ["RegistryServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


async def _chunks(messages: AsyncIterator[registry_pb2.UploadFileRequest]) -> AsyncIterator[bytes]:
    async for message in messages:
        if message.WhichOneof("kind") != "chunk":
            raise InvalidArgumentError("header", "only the first message of the stream may be a header")
        if message.chunk:
            yield message.chunk


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, uploads: Uploads, downloads: Downloads) -> None:
        self._uploads = uploads
        self._downloads = downloads

    async def UploadFile(
        self, request_iterator: AsyncIterator[registry_pb2.UploadFileRequest], context: Context
    ) -> registry_pb2.UploadFileResponse:
        messages = aiter(request_iterator)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise InvalidArgumentError("header", "is required as the first message of the stream, before any chunk")
        result = await self._uploads.upload(convert.header_from_pb(first.header), _chunks(messages))
        return registry_pb2.UploadFileResponse(file=convert.file_to_pb(result.file), deduplicated=result.deduplicated)

    async def GetUploadSession(
        self, request: registry_pb2.GetUploadSessionRequest, context: Context
    ) -> registry_pb2.GetUploadSessionResponse:
        session = await self._uploads.session(request.reference, request.path)
        return registry_pb2.GetUploadSessionResponse(session=convert.session_to_pb(session))

    async def CommitUpload(
        self, request: registry_pb2.CommitUploadRequest, context: Context
    ) -> registry_pb2.CommitUploadResponse:
        version = await self._uploads.commit(request.reference, list(request.paths))
        return registry_pb2.CommitUploadResponse(
            reference=version.reference, artifact=convert.artifact_to_pb(version.files)
        )

    async def AbortUpload(
        self, request: registry_pb2.AbortUploadRequest, context: Context
    ) -> registry_pb2.AbortUploadResponse:
        version = await self._uploads.abort(request.reference, request.reason)
        return registry_pb2.AbortUploadResponse(reference=version.reference)

    async def DownloadFile(
        self, request: registry_pb2.DownloadFileRequest, context: Context
    ) -> AsyncIterator[registry_pb2.DownloadFileResponse]:
        download = await self._downloads.open(request.reference, request.path, request.offset, request.length)
        header = registry_pb2.DownloadFileHeader(
            file=convert.file_to_pb(download.file), offset=download.offset, length=download.length
        )
        yield registry_pb2.DownloadFileResponse(header=header)
        async for chunk in download.chunks:
            yield registry_pb2.DownloadFileResponse(chunk=chunk)

    async def StatArtifact(
        self, request: registry_pb2.StatArtifactRequest, context: Context
    ) -> registry_pb2.StatArtifactResponse:
        status = await self._uploads.stat(request.reference)
        return registry_pb2.StatArtifactResponse(
            reference=status.version.reference,
            status=convert.status_to_pb(status.version.status),
            artifact=convert.artifact_to_pb(status.version.files),
            uploaded=[convert.file_to_pb(f) for f in status.uploaded],
            sessions=[convert.session_to_pb(s) for s in status.sessions],
        )
