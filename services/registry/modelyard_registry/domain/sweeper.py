"""Cleans up after failed and abandoned uploads; safe to run any number of times, anywhere.

This is what the docs, the settings (``reconcile_interval_seconds``) and the command line
(``modelyard-registry reconcile``) call the registry's reconciler; it is named a sweeper here
so as not to be taken for the deploy service's, which controls replicas.

What it removes, and why that is safe:

1. Versions, of models and of datasets alike, whose upload saw no progress for
   ``idle_seconds`` (and no stream holds a lease), and PENDING_UPLOAD versions unchanged for as
   long whose upload never began (the job died before its first byte, or its stream was cut
   before the upload was recorded): the metadata service is asked first. A READY version keeps
   its files (they are only marked so); a PENDING_UPLOAD one is marked FAILED ("abandoned") and
   only then cleaned, so a concurrent commit either wins (the version is READY and kept) or fails.
2. Blobs no file points at any more, older than ``grace_seconds``: the row is deleted first,
   under the foreign key from files, so a blob a file still (or newly) uses cannot go.
3. S3 multipart uploads no session knows and S3 objects no blob or session knows, older than
   ``grace_seconds``: leftovers of a crash between the S3 call and the row that records it.

Bytes of a READY version are never touched: their files stay, so their blobs stay.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from modelyard_common.errors import FailedPreconditionError, NotFoundError
from modelyard_common.values import VersionStatus
from modelyard_registry.domain.ports import BlobStore, UploadStore, VersionCatalog
from modelyard_registry.domain.uploads import Uploads

__all__ = ["ACTOR", "SweepReport", "UploadSweeper"]

logger = logging.getLogger(__name__)
ACTOR = "modelyard-registry"
_BATCH = 1000
T = TypeVar("T")


@dataclass(slots=True)
class SweepReport:
    """What one pass did; printed as JSON by ``modelyard-registry reconcile``."""

    skipped: bool = False
    failed_versions: list[str] = field(default_factory=list)
    cleaned_versions: list[str] = field(default_factory=list)
    unreconciled_versions: list[str] = field(default_factory=list)  # failed this pass (logged), tried again next
    deleted_blobs: int = 0
    aborted_uploads: int = 0
    deleted_objects: int = 0


class UploadSweeper:
    def __init__(
        self,
        store: UploadStore,
        blobs: BlobStore,
        catalog: VersionCatalog,
        uploads: Uploads,
        idle_seconds: float,
        grace_seconds: float,
    ) -> None:
        self._store, self._blobs, self._catalog, self._uploads = store, blobs, catalog, uploads
        self._idle, self._grace = idle_seconds, grace_seconds

    async def run_once(self) -> SweepReport:
        report = SweepReport()
        async with self._store.sweeper_lock() as taken:
            if not taken:
                report.skipped = True
                return report
            await self._abandoned_versions(report)
            await self._unreferenced_blobs(report)
            await self._unknown_uploads(report)
            await self._unknown_objects(report)
        if report != SweepReport():  # something was done, or could not be
            logger.info("reconciled", extra={"report": report})
        return report

    async def _abandoned_versions(self, report: SweepReport) -> None:
        stale = await self._store.stale_references(self._idle)
        unchanged = await self._catalog.pending_unchanged_since(datetime.now(UTC) - timedelta(seconds=self._idle))
        unstarted = set(unchanged) - await self._store.started_references(unchanged)
        for reference in sorted({*stale, *unstarted}):
            try:
                await self._abandoned_version(reference, report)
            except Exception:  # one version's trouble must not keep the others from being cleaned
                logger.exception("could not reconcile %s; trying again next pass", reference)
                report.unreconciled_versions.append(reference)

    async def _abandoned_version(self, reference: str, report: SweepReport) -> None:
        try:
            version = await self._catalog.get(reference)
        except NotFoundError:
            version = None
        if version is not None and version.status is VersionStatus.PENDING_UPLOAD:
            try:
                version = await self._catalog.fail(
                    ACTOR, reference, f"upload abandoned: no progress for {self._idle:.0f} s"
                )
                report.failed_versions.append(reference)
            except FailedPreconditionError:  # committed (or failed) meanwhile
                version = await self._catalog.get(reference)
        if version is not None and version.status is VersionStatus.READY:
            await self._store.mark_ready(reference)
            await self._uploads.drop_sessions(reference)
            return
        await self._uploads.clean(reference)
        report.cleaned_versions.append(reference)

    async def _unreferenced_blobs(self, report: SweepReport) -> None:
        for sha256, key in await self._store.unreferenced_blobs(self._grace):
            if await self._store.delete_blob_if_unreferenced(sha256):
                await self._blobs.delete(key)
                report.deleted_blobs += 1

    async def _unknown_uploads(self, report: SweepReport) -> None:
        cutoff = datetime.now(UTC) - timedelta(seconds=self._grace)
        async for batch in _batches(self._blobs.multipart_uploads()):
            known = await self._store.known_upload_ids([upload_id for _, upload_id, _ in batch])
            for key, upload_id, initiated in batch:
                if upload_id not in known and initiated < cutoff:
                    await self._blobs.abort_multipart(key, upload_id)
                    report.aborted_uploads += 1

    async def _unknown_objects(self, report: SweepReport) -> None:
        cutoff = datetime.now(UTC) - timedelta(seconds=self._grace)
        async for batch in _batches(self._blobs.objects()):
            known = await self._store.known_keys([key for key, _ in batch])
            for key, modified in batch:
                if key not in known and modified < cutoff:
                    await self._blobs.delete(key)
                    report.deleted_objects += 1


async def _batches(items: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    batch: list[T] = []
    async for item in items:
        batch.append(item)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
