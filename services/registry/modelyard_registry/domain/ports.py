"""What the domain needs from the outside: storage/, metrics.py, sha256.py and
modelyard_common.access implement these; main.py picks them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from modelyard_common.values import Consumption, ProjectRole
from modelyard_registry.domain.entities import Session, StoredFile, Table, VersionInfo

__all__ = [
    "Access",
    "BlobStore",
    "HashFactory",
    "ResumableHash",
    "TableReader",
    "TransferObserver",
    "UploadStore",
    "VersionCatalog",
]


class BlobStore(Protocol):
    """The S3 bucket; every method has a deadline and raises BackendUnavailableError past it."""

    async def start_multipart(self, key: str) -> str: ...
    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str: ...
    async def complete_multipart(self, key: str, upload_id: str, etags: Sequence[str]) -> None: ...
    async def abort_multipart(self, key: str, upload_id: str) -> None: ...
    async def put(self, key: str, data: bytes) -> None: ...
    async def read(self, key: str, start: int, length: int) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    def multipart_uploads(self) -> AsyncIterator[tuple[str, str, datetime]]: ...
    def objects(self) -> AsyncIterator[tuple[str, datetime]]: ...


class UploadStore(Protocol):
    """The registry's tables: blobs, files of versions, upload sessions and their parts."""

    async def link_file(
        self, reference: str, path: str, sha256: str, size: int, content_type: str
    ) -> StoredFile | None:
        """Records (reference, path) -> the stored blob with this digest and size; None if there
        is no such blob."""
        ...

    async def add_blob_and_file(self, session: Session, sha256: str, storage_key: str) -> tuple[StoredFile, bool]:
        """Records a new blob and the session's file, and ends the session, in one transaction;
        when a blob with this digest appeared meanwhile, links to it instead (False)."""
        ...

    async def get_session(self, reference: str, path: str) -> Session | None: ...
    async def create_session(self, session: Session, owner: uuid.UUID, lease_seconds: float) -> None: ...
    async def take_lease(self, session_id: uuid.UUID, owner: uuid.UUID, lease_seconds: float) -> bool: ...
    async def renew_leases(self, owners: Collection[uuid.UUID], lease_seconds: float) -> None:
        """Extends the lease of every session held by one of ``owners``."""
        ...

    async def release_lease(self, session_id: uuid.UUID, owner: uuid.UUID) -> None: ...
    async def save_progress(
        self,
        session_id: uuid.UUID,
        owner: uuid.UUID,
        durable_offset: int,
        hash_state: bytes,
        etags: dict[int, str],
    ) -> bool: ...
    async def etags(self, session_id: uuid.UUID) -> list[str]: ...
    async def delete_session(self, session_id: uuid.UUID, owner: uuid.UUID | None = None) -> bool:
        """Deletes the session unless another stream holds its lease (``owner`` may)."""
        ...

    async def files(self, reference: str) -> list[StoredFile]: ...
    async def sessions(self, reference: str) -> list[Session]: ...
    async def mark_ready(self, reference: str) -> None: ...
    async def delete_files(self, reference: str) -> None: ...

    # For the sweeper
    async def stale_references(self, idle_seconds: float) -> list[str]: ...
    async def started_references(self, references: Collection[str]) -> set[str]: ...
    async def unreferenced_blobs(self, grace_seconds: float) -> list[tuple[str, str]]: ...
    async def delete_blob_if_unreferenced(self, sha256: str) -> bool: ...
    async def known_keys(self, keys: Collection[str]) -> set[str]: ...
    async def known_upload_ids(self, upload_ids: Collection[str]) -> set[str]: ...
    def sweeper_lock(self) -> AbstractAsyncContextManager[bool]:
        """Held by one sweeper at a time across replicas; yields whether it was taken."""
        ...


class VersionCatalog(Protocol):
    """The metadata service, which owns versions and their status."""

    async def get(self, reference: str) -> VersionInfo: ...
    async def commit(
        self, actor: str, reference: str, files: Sequence[StoredFile], table: Table | None = None
    ) -> VersionInfo:
        """Marks the version READY with ``files``; a dataset version with its ``table``."""
        ...

    async def fail(self, actor: str, reference: str, reason: str) -> VersionInfo: ...
    async def pending_unchanged_since(self, cutoff: datetime) -> list[str]:
        """PENDING_UPLOAD versions (model and dataset) of every project nobody changed since ``cutoff``."""
        ...


class TableReader(Protocol):
    """Reads a dataset version's stored file (Parquet: its footer, by ranged reads; CSV: all of
    it, streamed) for its schema and row count."""

    async def read(self, table_format: str, file: StoredFile) -> Table:
        """InvalidArgumentError naming the problem when the bytes are not a table of that format."""
        ...


class Access(Protocol):
    """Whether the caller of the RPC being served may act on a project (docs/security.md)."""

    async def require(
        self, project: str, role: ProjectRole, action: str, resource: str, consumption: Consumption | None = None
    ) -> str:
        """The caller's name, or UNAUTHENTICATED / PERMISSION_DENIED; a granted ``consumption``
        records the caller as a consumer of its version."""
        ...


class ResumableHash(Protocol):
    """SHA-256 whose state can be saved and restored, so that a resumed upload's digest covers
    every byte of the file."""

    def update(self, data: bytes) -> None:
        """Hashes ``data``; may run in a worker thread."""
        ...

    def state(self) -> bytes: ...
    def hexdigest(self) -> str:
        """The digest of what was hashed so far (hashing may go on)."""
        ...


HashFactory = Callable[[bytes | None], ResumableHash]
"""A hash restored from a saved state, or a new one from None."""


class TransferObserver(Protocol):
    """What the use cases report as it happens (metrics.py records it), each about the version
    the registry calls ``reference`` (a model version's, or a dataset version's)."""

    def uploaded(self, reference: str, size: int) -> None:
        """``size`` bytes of an upload are stored (a part)."""
        ...

    def downloaded(self, reference: str, size: int) -> None:
        """``size`` bytes of a download are handed to the client (a chunk)."""
        ...

    def deduplicated(self, reference: str) -> None:
        """An uploaded file's content was stored already: the file points at that blob."""
        ...
