"""Registry messages <-> domain values."""

from __future__ import annotations

from modelyard._wire import ProtoEnum
from modelyard.v1 import registry_pb2, types_pb2
from modelyard_common.values import VersionStatus
from modelyard_registry.domain.entities import FileHeader, Session, StoredFile

__all__ = ["artifact_to_pb", "file_to_pb", "header_from_pb", "session_to_pb", "status_to_pb"]

_STATUS = ProtoEnum(VersionStatus, types_pb2.VersionStatus.Value, "VERSION_STATUS_")


def header_from_pb(header: registry_pb2.UploadFileHeader) -> FileHeader:
    return FileHeader(
        reference=header.reference,
        path=header.path,
        size=header.size,
        sha256=header.sha256,
        content_type=header.content_type,
        offset=header.offset,
    )


def file_to_pb(file: StoredFile) -> types_pb2.ArtifactFile:
    return types_pb2.ArtifactFile(
        path=file.path, size=file.size, sha256=file.sha256, storage_key=file.storage_key, content_type=file.content_type
    )


def artifact_to_pb(files: tuple[StoredFile, ...]) -> types_pb2.Artifact:
    return types_pb2.Artifact(files=[file_to_pb(f) for f in files], total_size=sum(f.size for f in files))


def session_to_pb(session: Session) -> registry_pb2.UploadSession:
    return registry_pb2.UploadSession(
        reference=session.reference,
        path=session.path,
        size=session.size,
        sha256=session.expected_sha256,
        offset=session.durable_offset,
    )


def status_to_pb(status: VersionStatus) -> types_pb2.VersionStatus.ValueType:
    return types_pb2.VersionStatus.ValueType(_STATUS.to_pb(status))
