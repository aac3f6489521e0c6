"""Use cases of uploading: a file's stream, committing a version's files, aborting, stat; each
checks the caller's access first (domain/access.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from modelyard_common.errors import (
    ConflictError,
    DataLossError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from modelyard_common.values import ProjectRole, VersionStatus, nested_pair
from modelyard_registry.domain.access import require
from modelyard_registry.domain.entities import FileHeader, Session, StoredFile, Table, UploadResult, VersionInfo
from modelyard_registry.domain.multipart import PartWriter
from modelyard_registry.domain.ports import (
    Access,
    BlobStore,
    HashFactory,
    TableReader,
    TransferObserver,
    UploadStore,
    VersionCatalog,
)
from modelyard_registry.domain.validation import check_chunk, check_header, check_path, check_paths

__all__ = ["ArtifactStatus", "UploadLimits", "Uploads"]

logger = logging.getLogger(__name__)

_MAX_PARTS = 10_000  # S3's limit per multipart upload
_MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class UploadLimits:
    part_size: int = 8 * _MiB
    lease_seconds: float = 10.0
    key_prefix: str = "blobs/"
    stream_parts_in_flight: int = 4


@dataclass(frozen=True, slots=True)
class ArtifactStatus:
    version: VersionInfo
    uploaded: tuple[StoredFile, ...]
    sessions: tuple[Session, ...]


class Uploads:
    def __init__(
        self,
        store: UploadStore,
        blobs: BlobStore,
        catalog: VersionCatalog,
        access: Access,
        hashes: HashFactory,
        parts_in_flight: asyncio.Semaphore,
        limits: UploadLimits,
        observer: TransferObserver,
        tables: TableReader,
    ) -> None:
        self._store, self._blobs, self._catalog, self._access = store, blobs, catalog, access
        self._tables = tables
        self._hashes = hashes
        self._slots = parts_in_flight
        self._limits = limits
        self._observer = observer
        self._writing: set[uuid.UUID] = set()  # owners of the streams this process runs

    async def upload(self, header: FileHeader, chunks: AsyncIterator[bytes]) -> UploadResult:
        """Stores one file of a PENDING_UPLOAD version from ``chunks``; nothing becomes part of
        the version unless the bytes are complete and their digest verified."""
        await require(self._access, ProjectRole.EDITOR, "UploadFile", header.reference, "header.reference")
        check_header(header)
        result = await self._upload(header, chunks)
        if result.deduplicated:
            self._observer.deduplicated(header.reference)
        return result

    async def _upload(self, header: FileHeader, chunks: AsyncIterator[bytes]) -> UploadResult:
        version = await self._pending(header.reference)
        reference = version.reference
        if header.sha256:
            linked = await self._store.link_file(
                reference, header.path, header.sha256, header.size, header.content_type
            )
            if linked is not None:
                await self._drop_session(reference, header.path)
                return UploadResult(linked, deduplicated=True)
        owner = uuid.uuid4()
        self._writing.add(owner)  # before the lease is taken: keep_leases renews it from then on
        try:
            session = await self._open_session(reference, header, owner)
            window = self._limits.stream_parts_in_flight
            hasher = self._hashes(session.hash_state)
            writer = PartWriter(session, owner, hasher, self._store, self._blobs, self._slots, window, self._observer)
            try:
                async for chunk in chunks:
                    await writer.write(check_chunk(chunk))
                digest = await writer.finish()
            except BaseException:
                # A cut, S3 down, bad input: keep what became durable for a resume.
                await asyncio.shield(self._settle(writer, session, owner))
                raise
            return await self._complete(session, owner, digest)
        finally:
            self._writing.discard(owner)

    async def keep_leases(self) -> None:
        """Renews the leases of every stream this process runs, in one statement every third of
        ``lease_seconds``; runs for the life of the server. A process that dies (SIGKILL, OOM, a
        lost node) stops renewing, so its sessions are free to resume elsewhere within
        ``lease_seconds``: well inside the SDK's patience, whatever the number of streams."""
        while True:
            await asyncio.sleep(self._limits.lease_seconds / 3)
            if not self._writing:
                continue
            try:
                await self._store.renew_leases(list(self._writing), self._limits.lease_seconds)
            except Exception:  # Postgres away: the next beat tries again; save_progress checks the owner
                logger.warning("could not renew upload leases", exc_info=True)

    async def commit(self, reference: str, paths: Sequence[str]) -> VersionInfo:
        """Makes the uploaded files the version's artifact; the version becomes READY."""
        actor = await require(self._access, ProjectRole.EDITOR, "CommitUpload", reference)
        check_paths(paths)
        version = await self._catalog.get(reference)
        wanted = set(paths)
        if version.status is VersionStatus.READY:
            if not wanted or wanted == {f.path for f in version.files}:
                return version  # committed already: the same commit again
            raise FailedPreconditionError(f"{version.reference} is already READY with other files")
        if version.status is not VersionStatus.PENDING_UPLOAD:
            raise FailedPreconditionError(f"{version.reference} is {version.status}; register a new version")
        if unfinished := await self._store.sessions(version.reference):
            session = unfinished[0]
            raise FailedPreconditionError(
                f"{version.reference}: {session.path!r} is still uploading ({session.durable_offset} of "
                f"{session.size} bytes durable); finish it before committing"
            )
        files = await self._store.files(version.reference)
        if pair := nested_pair(f.path for f in files):  # uploaded before uploads were refused
            raise FailedPreconditionError(
                f"{version.reference} holds both {pair[0]!r} and {pair[1]!r}, which no file system can: abort "
                f"this version and push the files again with other paths"
            )
        if not files:
            raise FailedPreconditionError(f"{version.reference} has no uploaded file; upload one with UploadFile first")
        have = {f.path for f in files}
        if wanted and wanted != have:
            missing, extra = sorted(wanted - have), sorted(have - wanted)
            raise FailedPreconditionError(
                f"paths: {version.reference} lacks {missing or 'nothing'}; "
                f"uploaded but not listed: {extra or 'nothing'}"
            )
        table = await self._read_table(actor, version, files) if version.table_format else None
        committed = await self._catalog.commit(actor, version.reference, files, table)
        await self._store.mark_ready(version.reference)
        logger.info("version ready", extra={"reference": version.reference, "files": len(files)})
        return committed

    async def _read_table(self, actor: str, version: VersionInfo, files: Sequence[StoredFile]) -> Table:
        """A dataset version's schema and row count, read from its one file; a file that is not a
        table of the version's format fails the version, and nothing of it remains."""
        if len(files) != 1:
            raise FailedPreconditionError(
                f"{version.reference} has {len(files)} files; a dataset version is one {version.table_format} file"
            )
        try:
            return await self._tables.read(version.table_format, files[0])
        except InvalidArgumentError as exc:
            await self._catalog.fail(actor, version.reference, exc.message)
            await self.clean(version.reference)
            raise InvalidArgumentError("", f"{version.reference} is FAILED: {exc.message}") from None

    async def abort(self, reference: str, reason: str) -> VersionInfo:
        """The version becomes FAILED; its sessions and uploaded files are removed."""
        actor = await require(self._access, ProjectRole.EDITOR, "AbortUpload", reference)
        version = await self._pending(reference)
        failed = await self._catalog.fail(actor, version.reference, reason or "upload aborted")
        await self.clean(version.reference)
        return failed

    async def clean(self, reference: str) -> None:
        """Removes the sessions and (not READY) files of a version that will never be READY;
        blobs left without a file are the sweeper's to delete."""
        await self.drop_sessions(reference)
        await self._store.delete_files(reference)

    async def drop_sessions(self, reference: str) -> None:
        """Aborts a version's unfinished uploads in S3 and forgets them."""
        for session in await self._store.sessions(reference):
            await self._blobs.abort_multipart(session.storage_key, session.upload_id)
            await self._store.delete_session(session.id)

    async def stat(self, reference: str) -> ArtifactStatus:
        await require(self._access, ProjectRole.VIEWER, "StatArtifact", reference)
        version = await self._catalog.get(reference)
        if version.status is VersionStatus.READY:
            return ArtifactStatus(version, (), ())
        uploaded = tuple(await self._store.files(version.reference))
        return ArtifactStatus(version, uploaded, tuple(await self._store.sessions(version.reference)))

    async def session(self, reference: str, path: str) -> Session:
        """The unfinished upload of ``path``, to resume it."""
        await require(self._access, ProjectRole.VIEWER, "GetUploadSession", reference)
        check_path("path", path)
        version = await self._catalog.get(reference)
        session = await self._store.get_session(version.reference, path)
        if session is None:
            raise NotFoundError(f"there is no unfinished upload of {path!r} in {reference}")
        return session

    # Steps

    async def _pending(self, reference: str) -> VersionInfo:
        version = await self._catalog.get(reference)
        if version.status is not VersionStatus.PENDING_UPLOAD:
            raise FailedPreconditionError(
                f"{version.reference} is {version.status}; files can only be uploaded to a PENDING_UPLOAD version"
            )
        return version

    def _part_size(self, size: int) -> int:
        """The configured part size, grown in whole MiB when the file needs more than 10,000 parts."""
        needed = math.ceil(size / _MAX_PARTS / _MiB) * _MiB
        return max(self._limits.part_size, needed)

    async def _open_session(self, reference: str, header: FileHeader, owner: uuid.UUID) -> Session:
        existing = await self._store.get_session(reference, header.path)
        if existing is not None and existing.leased:
            # Its durable offset may still move: the client should ask again once it is free.
            raise self._held(header.path, reference)
        if (
            existing is not None
            and header.offset
            and header.offset == existing.durable_offset
            and existing.matches(header)
        ):
            if not await self._store.take_lease(existing.id, owner, self._limits.lease_seconds):
                raise self._held(header.path, reference)
            return existing
        if header.offset:
            if existing is None:
                problem = f"there is no unfinished upload of {header.path!r} in {reference} to resume; start at 0"
            elif not existing.matches(header):
                problem = f"the unfinished upload of {header.path!r} is of other content (size or sha256); restart at 0"
            else:
                problem = f"the upload of {header.path!r} in {reference} resumes at offset {existing.durable_offset}"
            raise FailedPreconditionError(f"header.offset: {header.offset} is not where to resume: {problem}")
        if existing is not None:
            if not await self._store.delete_session(existing.id):
                raise self._held(header.path, reference)
            await self._blobs.abort_multipart(existing.storage_key, existing.upload_id)
        key = f"{self._limits.key_prefix}{uuid.uuid4().hex}"
        session = Session(
            id=uuid.uuid4(),
            reference=reference,
            path=header.path,
            size=header.size,
            expected_sha256=header.sha256,
            content_type=header.content_type,
            storage_key=key,
            upload_id=await self._blobs.start_multipart(key),
            part_size=self._part_size(header.size),
            durable_offset=0,
            hash_state=self._hashes(None).state(),
        )
        try:
            await self._store.create_session(session, owner, self._limits.lease_seconds)
        except (ConflictError, InvalidArgumentError):  # another stream, or a path nested in another
            await self._blobs.abort_multipart(key, session.upload_id)
            raise
        return session

    def _held(self, path: str, reference: str) -> ConflictError:
        return ConflictError(
            f"{path!r} of {reference} is being uploaded by another stream right now; if that stream "
            f"is gone, its lease lapses within {self._limits.lease_seconds:g} s: resume then"
        )

    async def _settle(self, writer: PartWriter, session: Session, owner: uuid.UUID) -> None:
        await writer.settle()
        with contextlib.suppress(Exception):
            await self._store.release_lease(session.id, owner)
        logger.info(
            "upload interrupted",
            extra={"reference": session.reference, "path": session.path, "durable_offset": writer.durable_offset},
        )

    async def _complete(self, session: Session, owner: uuid.UUID, digest: str) -> UploadResult:
        try:
            return await self._store_blob(session, owner, digest)
        finally:
            with contextlib.suppress(Exception):
                await self._store.release_lease(session.id, owner)

    async def _store_blob(self, session: Session, owner: uuid.UUID, digest: str) -> UploadResult:
        if session.expected_sha256 and digest != session.expected_sha256:
            await self._discard(session, owner)
            raise DataLossError(
                f"sha256: the {session.size} bytes of {session.path!r} hash to {digest}, "
                f"not header.sha256 {session.expected_sha256}; nothing was stored, upload it again"
            )
        linked = await self._store.link_file(
            session.reference, session.path, digest, session.size, session.content_type
        )
        if linked is not None:
            await self._discard(session, owner)
            return UploadResult(linked, deduplicated=True)
        if session.size == 0:
            await self._blobs.abort_multipart(session.storage_key, session.upload_id)
            await self._blobs.put(session.storage_key, b"")
        else:
            etags = await self._store.etags(session.id)
            await self._blobs.complete_multipart(session.storage_key, session.upload_id, etags)
        stored, created = await self._store.add_blob_and_file(session, digest, session.storage_key)
        if not created:  # the same content was stored by another upload meanwhile
            await self._blobs.delete(session.storage_key)
        return UploadResult(stored, deduplicated=not created)

    async def _discard(self, session: Session, owner: uuid.UUID) -> None:
        await self._blobs.abort_multipart(session.storage_key, session.upload_id)
        await self._store.delete_session(session.id, owner)

    async def _drop_session(self, reference: str, path: str) -> None:
        """An earlier unfinished upload of a file that turned out to be stored already."""
        existing = await self._store.get_session(reference, path)
        if existing is not None and await self._store.delete_session(existing.id):
            await self._blobs.abort_multipart(existing.storage_key, existing.upload_id)
