"""Composition root of the registry service: settings -> pools -> use cases -> server.

``modelyard-registry`` serves; ``modelyard-registry reconcile`` runs one pass of the upload
sweeper (the docs' reconciler) and prints its report as JSON (for cron jobs and tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_common.access import ProjectAccess
from modelyard_common.logs import configure_logging
from modelyard_common.metadata_client import connect_metadata
from modelyard_common.migrations import migrate
from modelyard_common.postgres import create_pool
from modelyard_common.server import ServiceBinding, serve
from modelyard_common.settings import load_settings
from modelyard_registry.api.servicer import RegistryServicer
from modelyard_registry.domain.downloads import DownloadLimits, Downloads
from modelyard_registry.domain.limits import LARGER_REQUESTS, MAX_REQUEST_BYTES
from modelyard_registry.domain.sweeper import ACTOR, UploadSweeper
from modelyard_registry.domain.uploads import UploadLimits, Uploads
from modelyard_registry.metrics import PrometheusObserver
from modelyard_registry.settings import RegistrySettings
from modelyard_registry.sha256 import ResumableSha256, check_matches_hashlib
from modelyard_registry.storage.catalog import MetadataCatalog
from modelyard_registry.storage.postgres import PgUploadStore
from modelyard_registry.storage.s3 import S3BlobStore
from modelyard_registry.storage.tables import BlobTables

logger = logging.getLogger(__name__)

MIGRATIONS = "modelyard_registry.migrations"
SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name
_MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Components:
    uploads: Uploads
    downloads: Downloads
    sweeper: UploadSweeper


@asynccontextmanager
async def components(settings: RegistrySettings) -> AsyncIterator[Components]:
    check_matches_hashlib()
    async with AsyncExitStack() as stack:
        pool = await create_pool(settings)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await migrate(conn, MIGRATIONS, schema="registry")
        blobs = S3BlobStore(
            settings.s3_endpoint,
            settings.s3_bucket,
            settings.s3_access_key,
            settings.s3_secret_key,
            settings.s3_region,
            settings.s3_prefix,
            settings.s3_timeout_seconds,
            settings.s3_threads,
        )
        stack.callback(blobs.close)
        await blobs.ensure_bucket()
        client = connect_metadata(settings, ACTOR)
        stack.push_async_callback(client.close)
        store, catalog = PgUploadStore(pool), MetadataCatalog(client)
        access, observer = ProjectAccess(client if settings.auth_enabled else None), PrometheusObserver()
        uploads = Uploads(
            store,
            blobs,
            catalog,
            access,
            ResumableSha256,
            asyncio.Semaphore(settings.parts_in_flight),
            UploadLimits(
                settings.part_size_mib * _MiB,
                settings.lease_seconds,
                settings.s3_prefix,
                settings.stream_parts_in_flight,
            ),
            observer,
            BlobTables(blobs),
        )
        downloads = Downloads(
            blobs,
            catalog,
            access,
            DownloadLimits(settings.download_read_size_mib * _MiB, settings.download_read_ahead),
            observer,
        )
        sweeper = UploadSweeper(
            store, blobs, catalog, uploads, settings.upload_idle_seconds, settings.orphan_grace_seconds
        )
        yield Components(uploads, downloads, sweeper)


async def _sweep_forever(sweeper: UploadSweeper, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await sweeper.run_once()
        except Exception:
            logger.exception("reconciler pass failed; trying again next interval")


async def run(settings: RegistrySettings) -> None:
    async with components(settings) as parts:
        servicer = RegistryServicer(parts.uploads, parts.downloads)
        binding = ServiceBinding(
            SERVICE_NAME,
            lambda server: registry_pb2_grpc.add_RegistryServiceServicer_to_server(servicer, server),
            MAX_REQUEST_BYTES,
            LARGER_REQUESTS,
        )
        background = [asyncio.create_task(parts.uploads.keep_leases())]
        if settings.reconcile_interval_seconds:
            interval = settings.reconcile_interval_seconds
            background.append(asyncio.create_task(_sweep_forever(parts.sweeper, interval)))
        try:
            await serve(settings, [binding], auth_required=settings.auth_enabled)
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def sweep_once(settings: RegistrySettings) -> dict[str, object]:
    async with components(settings) as parts:
        return dataclasses.asdict(await parts.sweeper.run_once())


def main() -> None:
    settings = load_settings(RegistrySettings)
    configure_logging(settings.log_level, settings.log_format)
    if sys.argv[1:] == ["reconcile"]:
        print(json.dumps(asyncio.run(sweep_once(settings))))
    elif sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]} [reconcile]")
    else:
        asyncio.run(run(settings))


if __name__ == "__main__":
    main()
