"""Composition root of the metadata service: settings -> pools -> servicer -> server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import uuid
from contextlib import AsyncExitStack
from importlib.metadata import version as package_version

import asyncpg
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from modelyard.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    datasets_pb2,
    datasets_pb2_grpc,
    metadata_pb2,
    metadata_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
    webhooks_pb2,
    webhooks_pb2_grpc,
)
from modelyard_common.errors import InvalidArgumentError
from modelyard_common.logs import configure_logging
from modelyard_common.migrations import migrate
from modelyard_common.postgres import create_pool
from modelyard_common.server import ServiceBinding, serve
from modelyard_common.settings import load_settings
from modelyard_metadata.api.auth_servicer import AuthServicer
from modelyard_metadata.api.callers import Callers
from modelyard_metadata.api.dataset_servicer import DatasetServicer
from modelyard_metadata.api.scoring_servicer import ScoringServicer
from modelyard_metadata.api.servicer import MetadataServicer
from modelyard_metadata.api.webhook_servicer import WebhookServicer
from modelyard_metadata.api.wire import ProtoWire
from modelyard_metadata.domain.accounts import Accounts
from modelyard_metadata.domain.catalog import Catalog
from modelyard_metadata.domain.consumers import Consumers
from modelyard_metadata.domain.dataset_lineage import DatasetLineage
from modelyard_metadata.domain.datasets import Datasets
from modelyard_metadata.domain.entities import PlatformInfo
from modelyard_metadata.domain.limits import LARGER_REQUESTS, MAX_REQUEST_BYTES, SCORING_LARGER_REQUESTS
from modelyard_metadata.domain.scoring import ScoringTests
from modelyard_metadata.domain.scoring_runs import ScoringRuns
from modelyard_metadata.domain.webhook_delivery import DeliveryWorker, RetryPolicy, WorkerSettings
from modelyard_metadata.domain.webhook_destinations import Destinations
from modelyard_metadata.domain.webhooks import Webhooks
from modelyard_metadata.metrics import ModelMetricGauges, WebhookMetrics, scoring_run_finished
from modelyard_metadata.settings import MetadataSettings
from modelyard_metadata.storage.access import PgAccessStore
from modelyard_metadata.storage.cache import VersionCache
from modelyard_metadata.storage.consumers import PgConsumerStore
from modelyard_metadata.storage.datasets import PgDatasetStore
from modelyard_metadata.storage.events import AuditFeed
from modelyard_metadata.storage.postgres import PgStore, init_connection
from modelyard_metadata.storage.redis_pipe import RedisPipe
from modelyard_metadata.storage.scoring import PgScoringStore
from modelyard_metadata.storage.webhook_http import HttpSender
from modelyard_metadata.storage.webhooks import PgWebhookStore, SecretBox

logger = logging.getLogger(__name__)

MIGRATIONS = "modelyard_metadata.migrations"
SERVICE_NAME = metadata_pb2.DESCRIPTOR.services_by_name["MetadataService"].full_name
AUTH_SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
DATASET_SERVICE_NAME = datasets_pb2.DESCRIPTOR.services_by_name["DatasetService"].full_name
WEBHOOK_SERVICE_NAME = webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"].full_name
SCORING_SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name


async def _webhooks(
    stack: AsyncExitStack, settings: MetadataSettings, store: PgWebhookStore, catalog: Catalog
) -> Webhooks:
    """The webhook use cases, and this replica's delivery worker (stopped before the pool closes)."""
    destinations = Destinations(settings.webhook_allowed_hosts, settings.webhook_allow_public)
    sender = HttpSender(destinations, settings.webhook_timeout_seconds)
    stack.push_async_callback(sender.close)
    stack.push_async_callback(store.close)
    if settings.webhook_concurrency:
        metrics = WebhookMetrics()
        REGISTRY.register(metrics)
        stack.callback(REGISTRY.unregister, metrics)
        worker = DeliveryWorker(
            store,
            sender,
            RetryPolicy(settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds),
            WorkerSettings(
                owner=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
                concurrency=settings.webhook_concurrency,
                poll_seconds=settings.webhook_poll_seconds,
                # A replica that dies holding a lease holds it this long at most.
                lease_seconds=2 * settings.webhook_timeout_seconds + 5,
                retention_seconds=settings.webhook_log_retention_seconds,
            ),
            metrics,
        )
        task = asyncio.create_task(worker.run())
        stack.push_async_callback(_cancelled, task)
    return Webhooks(store, catalog.guard, destinations, sender, settings.webhook_secret_grace_seconds)


async def _encode_missing(store: PgStore) -> None:
    try:
        encoded = await store.encode_missing()
    except (asyncpg.PostgresError, OSError) as exc:  # they stay encoded when read
        logger.warning("could not store the messages of older versions", extra={"error": str(exc)})
    else:
        if encoded:
            logger.info("stored the messages of older versions", extra={"versions": encoded})


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run(settings: MetadataSettings) -> None:
    async with AsyncExitStack() as stack:
        # Session state lives on connections of their own (AuditFeed, the webhooks' listener).
        pool = await create_pool(settings, init=init_connection, stateless=True)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await migrate(conn, MIGRATIONS)
        cache = None
        if settings.redis_url:
            client = aioredis.Redis.from_url(
                settings.redis_url,
                socket_timeout=settings.redis_timeout_seconds,
                socket_connect_timeout=settings.redis_timeout_seconds,
                max_connections=settings.db_pool_max * 4,
            )
            stack.push_async_callback(client.aclose)
            pipe = RedisPipe.for_url(settings.redis_url, settings.redis_timeout_seconds)
            if pipe is not None:
                stack.callback(pipe.close)
            cache = VersionCache(client, settings.cache_ttl_seconds, settings.cache_write_lease_seconds, pipe=pipe)
        if settings.model_metrics_interval_seconds:
            gauges = ModelMetricGauges(pool, settings.model_metrics_interval_seconds, settings.model_metrics_limit)
            refresh = asyncio.create_task(gauges.run())
            stack.callback(refresh.cancel)
        feed = AuditFeed(settings.db_dsn)
        store = PgStore(pool, ProtoWire(), cache)
        # Versions written before their messages were stored (or by anything but the service)
        # are encoded when read; this stores their messages once, in the background.
        encoding = asyncio.create_task(_encode_missing(store))
        stack.push_async_callback(_cancelled, encoding)
        catalog = Catalog.over(store, feed, settings.protected_aliases)
        dataset_store = PgDatasetStore(pool)
        datasets = Datasets(dataset_store, catalog.guard)
        dataset_lineage = DatasetLineage(dataset_store, store, catalog.guard, catalog.versions)
        consumers = Consumers(PgConsumerStore(pool), catalog.versions)
        accounts = Accounts(PgAccessStore(pool, cache), catalog.guard, catalog.versions, consumers)
        if settings.auth_enabled:
            try:
                await accounts.bootstrap(
                    settings.admin_token.get_secret_value() if settings.admin_token else None,
                    {name: token.get_secret_value() for name, token in settings.service_tokens.items()},
                )
            except InvalidArgumentError as exc:  # a bad token or principal name in the settings
                sys.exit(
                    f"invalid configuration for MetadataSettings: MLREG_METADATA_ADMIN_TOKEN/SERVICE_TOKENS: {exc}"
                )
        callers = Callers(accounts if settings.auth_enabled else None)
        key = settings.webhook_secret_key
        if key is None:
            logger.warning("webhook_secret_key is not set: webhook signing secrets are stored unsealed in Postgres")
        webhook_store = PgWebhookStore(pool, cache, SecretBox(key.get_secret_value() if key else None), settings.db_dsn)
        webhooks = await _webhooks(stack, settings, webhook_store, catalog)
        platform = PlatformInfo(settings.registry_addr, settings.deploy_addr, package_version("modelyard-metadata"))
        servicer = MetadataServicer(catalog, callers, platform, consumers)
        auth_servicer = AuthServicer(accounts, callers)
        dataset_servicer = DatasetServicer(datasets, dataset_lineage, callers)
        webhook_servicer = WebhookServicer(webhooks, callers)
        scoring_store = PgScoringStore(pool, cache)
        scoring_tests = ScoringTests(scoring_store, store, catalog.guard, datasets)
        scoring_runs = ScoringRuns(scoring_store, store, catalog.guard, scoring_tests, scoring_run_finished)
        scoring_servicer = ScoringServicer(scoring_tests, scoring_runs, callers)
        bindings = [
            ServiceBinding(
                SERVICE_NAME,
                lambda server: metadata_pb2_grpc.add_MetadataServiceServicer_to_server(servicer, server),
                MAX_REQUEST_BYTES,
                LARGER_REQUESTS,
            ),
            ServiceBinding(
                AUTH_SERVICE_NAME, lambda server: auth_pb2_grpc.add_AuthServiceServicer_to_server(auth_servicer, server)
            ),
            ServiceBinding(
                DATASET_SERVICE_NAME,
                lambda server: datasets_pb2_grpc.add_DatasetServiceServicer_to_server(dataset_servicer, server),
            ),
            ServiceBinding(
                WEBHOOK_SERVICE_NAME,
                lambda server: webhooks_pb2_grpc.add_WebhookServiceServicer_to_server(webhook_servicer, server),
            ),
            ServiceBinding(
                SCORING_SERVICE_NAME,
                lambda server: scoring_pb2_grpc.add_ScoringServiceServicer_to_server(scoring_servicer, server),
                MAX_REQUEST_BYTES,
                SCORING_LARGER_REQUESTS,
            ),
        ]
        await serve(settings, bindings, before_stop=feed.close, auth_required=settings.auth_enabled)


def main() -> None:
    settings = load_settings(MetadataSettings)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
