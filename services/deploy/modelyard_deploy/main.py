"""Composition root of the deploy service: settings -> pools -> runtime, reconciler, use cases -> server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from contextlib import AsyncExitStack

import modelyard.aio
from modelyard.v1 import deploy_pb2, deploy_pb2_grpc
from modelyard_common.logs import configure_logging
from modelyard_common.migrations import migrate
from modelyard_common.postgres import create_pool
from modelyard_common.server import ServiceBinding, serve
from modelyard_common.settings import load_settings
from modelyard_deploy.api.servicer import DeployServicer
from modelyard_deploy.domain.changes import Changes
from modelyard_deploy.domain.deployments import Deployments
from modelyard_deploy.domain.entities import Runtime
from modelyard_deploy.domain.reconcile import Reconciler
from modelyard_deploy.domain.rollout import Policy
from modelyard_deploy.metrics import PrometheusObserver
from modelyard_deploy.runtimes.kubernetes import KubernetesCluster, KubernetesConfig
from modelyard_deploy.runtimes.process import ProcessRuntime, ServingConfig
from modelyard_deploy.settings import DeploySettings
from modelyard_deploy.storage.catalog import MetadataCatalog
from modelyard_deploy.storage.postgres import PgDeploymentStore

logger = logging.getLogger(__name__)

MIGRATIONS = "modelyard_deploy.migrations"
SERVICE_NAME = deploy_pb2.DESCRIPTOR.services_by_name["DeployService"].full_name
ACTOR = "modelyard-deploy"


async def run(settings: DeploySettings) -> None:
    async with AsyncExitStack() as stack:
        pool = await create_pool(settings)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await migrate(conn, MIGRATIONS, schema="deploy")
        client = modelyard.aio.connect(settings.metadata_addr, actor=ACTOR, timeout=settings.metadata_timeout_seconds)
        stack.push_async_callback(client.close)
        runtime = ProcessRuntime(
            ServingConfig(
                metadata_addr=settings.metadata_addr,
                registry_addr=settings.registry_addr,
                cache_dir=settings.cache_dir,
                run_dir=settings.run_dir,
                stop_grace=settings.replica_stop_grace_seconds,
                scrape_targets_file=settings.scrape_targets_file,
            )
        )
        stack.push_async_callback(runtime.close)
        store, changes = PgDeploymentStore(pool), Changes()
        policy = Policy(
            settings.ready_timeout_seconds,
            settings.restart_backoff_seconds,
            settings.max_failures,
            settings.replica_drain_seconds,
        )
        cluster = None
        if settings.kubernetes_enabled:
            cluster = KubernetesCluster(
                KubernetesConfig(
                    settings.kubernetes_namespace,
                    settings.kubernetes_image,
                    settings.kubernetes_metadata_addr or settings.metadata_addr,
                    settings.kubernetes_registry_addr or settings.registry_addr,
                )
            )
        reconciler = Reconciler(store, runtime, changes, policy, PrometheusObserver(), cluster)
        await reconciler.adopt_or_stop_leftovers()
        runtimes = frozenset({Runtime.PROCESS, Runtime.KUBERNETES} if cluster else {Runtime.PROCESS})
        deployments = Deployments(
            store, MetadataCatalog(client), reconciler, changes, runtimes, Runtime(settings.default_runtime.upper())
        )
        servicer = DeployServicer(deployments)
        binding = ServiceBinding(
            SERVICE_NAME, lambda server: deploy_pb2_grpc.add_DeployServiceServicer_to_server(servicer, server)
        )
        background = asyncio.create_task(reconciler.run_forever(settings.reconcile_interval_seconds))
        try:
            await serve(settings, [binding])
        finally:
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background


def main() -> None:
    settings = load_settings(DeploySettings)
    configure_logging(settings.log_level, settings.log_format)
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]}")
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
