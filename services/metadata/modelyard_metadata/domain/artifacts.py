"""What the registry service reports about a version's bytes: its artifact committed (the version
READY), or its upload failed."""

from __future__ import annotations

from typing import Any, Protocol

from modelyard_common.errors import FailedPreconditionError
from modelyard_metadata.domain.entities import Caller, EncodedVersion, NewAuditEvent, VersionStatus
from modelyard_metadata.domain.guard import Guard
from modelyard_metadata.domain.lookups import lock_version
from modelyard_metadata.domain.ports import MetadataStore
from modelyard_metadata.domain.validation import check_artifact_files, check_text, parse_reference

__all__ = ["Artifacts", "already_committed"]


class _Committable(Protocol):
    @property
    def status(self) -> VersionStatus: ...
    @property
    def artifact(self) -> dict[str, Any]: ...
    @property
    def reference(self) -> str: ...


def already_committed(version: _Committable, files: list[Any]) -> bool:
    """Whether ``version`` (of a model or a dataset) holds ``files`` already: a repeated commit,
    nothing to do. A commit to a version READY with other files, or FAILED, is refused."""
    if version.status is VersionStatus.READY:
        if version.artifact.get("files") == files:
            return True
        raise FailedPreconditionError(f"{version.reference} is already READY with a different artifact")
    if version.status is VersionStatus.FAILED:
        raise FailedPreconditionError(f"{version.reference} has FAILED; register a new version")
    return False


class Artifacts:
    def __init__(self, store: MetadataStore, guard: Guard) -> None:
        self._store = store
        self._guard = guard

    async def commit(self, caller: Caller, reference: str, artifact: dict[str, Any]) -> EncodedVersion:
        """CommitArtifact: the version READY, as the wire carries it."""
        ref = parse_reference(reference)
        files = artifact.get("files", [])
        check_artifact_files(files)
        caller = await self._guard.as_registry(caller, "CommitArtifact", ref.project, reference)
        async with self._store.transaction() as tx:
            version = await lock_version(self._store, tx, ref)
            if already_committed(version, files):
                return tx.encoded(version)
            updated = await tx.update_version(
                version, {"status": VersionStatus.READY, "status_message": "", "artifact": artifact}
            )
            await tx.append_audit(
                NewAuditEvent(caller, "version.ready", version.project, version.reference, after={"artifact": artifact})
            )
            return tx.encoded(updated)

    async def fail_upload(self, caller: Caller, reference: str, reason: str) -> EncodedVersion:
        """FailUpload: the version FAILED, as the wire carries it."""
        ref = parse_reference(reference)
        check_text("reason", reason)
        caller = await self._guard.as_registry(caller, "FailUpload", ref.project, reference)
        async with self._store.transaction() as tx:
            version = await lock_version(self._store, tx, ref)
            if version.status is not VersionStatus.PENDING_UPLOAD:
                raise FailedPreconditionError(f"{version.reference} is {version.status}, not PENDING_UPLOAD")
            updated = await tx.update_version(
                version, {"status": VersionStatus.FAILED, "status_message": reason or "upload failed"}
            )
            await tx.append_audit(
                NewAuditEvent(
                    caller, "version.failed", version.project, version.reference, reason=reason or "upload failed"
                )
            )
            return tx.encoded(updated)
