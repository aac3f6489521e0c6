"""Use case of downloading: a byte range of one file of a READY version, streamed in order.

Ranges of ``read_size`` bytes are fetched from S3 concurrently, ``read_ahead`` at a time, and
handed out in order in ``chunk_size`` pieces: memory per download stays at most
``read_ahead * read_size`` whatever the file size, and a slow reader stops the reads (the
generator is not resumed until gRPC has sent the previous chunk). The caller needs VIEWER on the
version's project (domain/access.py), and is recorded as one of its consumers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from modelyard_common.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from modelyard_common.values import (
    Consumption,
    ConsumptionKind,
    ProjectRole,
    VersionStatus,
    dataset_of_registry_reference,
)
from modelyard_registry.domain.access import require
from modelyard_registry.domain.entities import StoredFile
from modelyard_registry.domain.ports import Access, BlobStore, TransferObserver, VersionCatalog

__all__ = ["Download", "DownloadLimits", "Downloads"]

_MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class DownloadLimits:
    read_size: int = 8 * _MiB
    read_ahead: int = 4
    chunk_size: int = 1 * _MiB


@dataclass(frozen=True, slots=True)
class Download:
    file: StoredFile
    offset: int
    length: int
    chunks: AsyncIterator[bytes]


class Downloads:
    def __init__(
        self,
        blobs: BlobStore,
        catalog: VersionCatalog,
        access: Access,
        limits: DownloadLimits,
        observer: TransferObserver,
    ) -> None:
        self._blobs, self._catalog, self._access, self._limits = blobs, catalog, access, limits
        self._observer = observer

    async def open(self, reference: str, path: str, offset: int, length: int) -> Download:
        # The bytes leaving are a use of the version: its consumers are recorded here (not on
        # StatArtifact, which lists files for pushes and `modelyard artifact` too).
        # Datasets have no consumers (yet): their lineage says who used them.
        is_model = dataset_of_registry_reference(reference) is None
        consumption = Consumption(ConsumptionKind.DOWNLOAD, reference) if is_model else None
        await require(self._access, ProjectRole.VIEWER, "DownloadFile", reference, consumption=consumption)
        version = await self._catalog.get(reference)
        if version.status is not VersionStatus.READY:
            raise FailedPreconditionError(
                f"{version.reference} is {version.status}; only READY versions can be downloaded"
            )
        file = _pick(version.reference, version.files, path)
        if not 0 <= offset <= file.size:
            raise InvalidArgumentError("offset", f"is {offset}; {file.path!r} has {file.size} bytes")
        if length < 0 or offset + length > file.size:
            raise InvalidArgumentError(
                "length", f"is {length}; from offset {offset} at most {file.size - offset} bytes remain (0 for all)"
            )
        length = length or file.size - offset
        return Download(file, offset, length, self._chunks(version.reference, file.storage_key, offset, length))

    async def _chunks(self, reference: str, key: str, offset: int, length: int) -> AsyncIterator[bytes]:
        limits = self._limits
        end = offset + length
        starts = iter(range(offset, end, limits.read_size))
        reads: deque[asyncio.Task[bytes]] = deque()

        def refill() -> None:
            while len(reads) < limits.read_ahead and (start := next(starts, None)) is not None:
                reads.append(asyncio.ensure_future(self._blobs.read(key, start, min(limits.read_size, end - start))))

        try:
            refill()
            while reads:
                data = await reads.popleft()
                refill()
                for i in range(0, len(data), limits.chunk_size):
                    piece = data[i : i + limits.chunk_size]
                    self._observer.downloaded(reference, len(piece))
                    yield piece
        finally:
            for task in reads:
                task.cancel()


def _pick(reference: str, files: tuple[StoredFile, ...], path: str) -> StoredFile:
    if not path:
        if len(files) == 1:
            return files[0]
        raise InvalidArgumentError("path", f"is required: {reference} has {len(files)} files")
    for file in files:
        if file.path == path:
            return file
    names = ", ".join(repr(f.path) for f in files[:10])
    raise NotFoundError(f"path: {reference} has no file {path!r}; it has {names}")
