"""Downloads of a version's artifact files (a model version's or a dataset version's), streamed
through the registry as the signed-in user.

The SDK's asyncio client has no registry transfers (the blocking client's write to disk), so
this reads the registry's DownloadFile stream itself, with the user's token, and hands each
chunk to the browser as it comes: never the whole file in memory, and gRPC's flow control
holds the registry back while the browser reads slowly. The response carries the file's size
(Content-Length) and SHA-256 (Repr-Digest, and in hex); the bytes are hashed on the way, and a
stream that does not match is cut short, so a browser never keeps a wrong file as complete.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote

import grpc
import grpc.aio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

import modelyard
import modelyard.aio
from modelyard import Artifact, ArtifactFile, TLSConfig
from modelyard.errors import DataLossError, NotFoundError, from_rpc_error
from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_console.pages._common import page

__all__ = ["routes", "streamed"]

logger = logging.getLogger(__name__)

_Download = grpc.aio.UnaryStreamCall[registry_pb2.DownloadFileRequest, registry_pb2.DownloadFileResponse]


def routes() -> list[Route]:
    return [Route("/download/{project}/{model}/{version:int}/{path:path}", page(_download))]


async def _download(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    project, model = request.path_params["project"], request.path_params["model"]
    reference = f"{project}/{model}:{request.path_params['version']}"
    version = await client.get_version(reference)
    return await streamed(request, client, version.reference, version.artifact)


async def streamed(
    request: Request, client: modelyard.aio.AsyncClient, registry_reference: str, artifact: Artifact | None
) -> Response:
    """The file of ``artifact`` the URL names (its ``path``), of what the registry names
    ``registry_reference`` (a model version, or "dataset:p/d:N"), streamed to the browser with
    its size and SHA-256."""
    path = request.path_params["path"]
    file = next((file for file in (artifact.files if artifact is not None else ()) if file.path == path), None)
    if file is None:
        raise NotFoundError(f"path: {registry_reference} has no artifact file {path!r}")
    token = request.scope["session_record"].token
    registry = await client.registry_address()
    body = await _open(registry, token, client.tls, client.actor, registry_reference, file)
    name = quote(file.path.rpartition("/")[2], safe="")
    headers = {
        "Content-Length": str(file.size),
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
        "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(file.sha256)).decode()}:",
        "X-Modelyard-SHA256": file.sha256,
    }
    return StreamingResponse(body, media_type="application/octet-stream", headers=headers)


async def _open(
    registry: str, token: str, tls: TLSConfig | None, actor: str, reference: str, file: ArtifactFile
) -> AsyncIterator[bytes]:
    """Opens the registry's stream of ``file`` and reads its header, so that a refusal becomes
    the page's error before any byte is sent; returns the rest of the stream as chunks."""
    if tls is None:
        channel = grpc.aio.insecure_channel(registry)
    else:
        channel = grpc.aio.secure_channel(registry, tls.credentials(), options=tls.options())
    request_id = uuid.uuid4().hex[:16]
    metadata = (
        ("authorization", f"Bearer {token}"),
        ("modelyard-actor", actor),
        ("modelyard-request-id", request_id),
    )
    request = registry_pb2.DownloadFileRequest(reference=reference, path=file.path)
    call = registry_pb2_grpc.RegistryServiceStub(channel).DownloadFile(request, metadata=metadata)
    try:
        header = await call.read()
    except grpc.RpcError as exc:
        await channel.close()
        raise from_rpc_error(exc, request_id=request_id) from exc
    served = header.header.file.sha256 if isinstance(header, registry_pb2.DownloadFileResponse) else "nothing"
    if served != file.sha256:  # READY artifacts never change: a registry bug
        await channel.close()
        raise DataLossError(f"{file.path}: the registry serves {served}, not {file.sha256}", request_id=request_id)
    return _chunks(channel, call, file)


async def _chunks(channel: grpc.aio.Channel, call: _Download, file: ArtifactFile) -> AsyncIterator[bytes]:
    """The file's bytes as the registry sends them, hashed on the way; the channel is closed
    when the stream ends, fails, or the browser goes away."""
    digest, size = hashlib.sha256(), 0
    try:
        while isinstance(message := await call.read(), registry_pb2.DownloadFileResponse):
            digest.update(message.chunk)
            size += len(message.chunk)
            yield message.chunk
        if (size, digest.hexdigest()) != (file.size, file.sha256):
            raise DataLossError(f"{file.path}: {size} bytes hashing to {digest.hexdigest()}, not {file.sha256}")
    except (grpc.RpcError, DataLossError):
        logger.warning("download cut short", extra={"path": file.path}, exc_info=True)
        raise
    finally:
        call.cancel()
        await channel.close()
