"""What the registry works with: stored files, upload sessions, and the versions they belong to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from modelyard_common.values import VersionStatus

__all__ = ["FileHeader", "Session", "StoredFile", "Table", "UploadResult", "VersionInfo"]


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A verified file of a version, pointing at the blob that holds its bytes."""

    path: str
    size: int
    sha256: str
    storage_key: str
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """What the registry needs to know of a version (the metadata service owns it)."""

    reference: str  # canonical, "project/model:3" or "dataset:project/dataset:2"
    status: VersionStatus
    files: tuple[StoredFile, ...] = ()
    table_format: str = ""  # a dataset version's: "PARQUET" or "CSV"


@dataclass(frozen=True, slots=True)
class Table:
    """What the registry reads from a dataset version's file: its columns (name, Arrow type
    name) and row count."""

    columns: tuple[tuple[str, str], ...]
    row_count: int


@dataclass(frozen=True, slots=True)
class FileHeader:
    """The first message of an upload stream."""

    reference: str
    path: str
    size: int
    sha256: str = ""
    content_type: str = ""
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Session:
    """An unfinished upload of one file: an S3 multipart upload and how far it is durable."""

    id: uuid.UUID
    reference: str
    path: str
    size: int
    expected_sha256: str
    content_type: str
    storage_key: str
    upload_id: str
    part_size: int
    durable_offset: int
    hash_state: bytes
    leased: bool = False  # a stream is writing it right now

    def matches(self, header: FileHeader) -> bool:
        """Whether ``header`` describes the same file this session uploads."""
        return (self.size, self.expected_sha256) == (header.size, header.sha256)


@dataclass(frozen=True, slots=True)
class UploadResult:
    file: StoredFile
    deduplicated: bool
