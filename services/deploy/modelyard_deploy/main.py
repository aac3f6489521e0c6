"""Composition root of the deploy service: settings -> pools -> runtime, reconciler, use cases -> server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import modelyard
from modelyard.v1 import batch_workers_pb2, batch_workers_pb2_grpc, deploy_pb2, deploy_pb2_grpc, jobs_pb2, jobs_pb2_grpc
from modelyard_common.access import ProjectAccess
from modelyard_common.logs import configure_logging
from modelyard_common.metadata_client import connect_metadata
from modelyard_common.migrations import migrate
from modelyard_common.postgres import create_pool
from modelyard_common.server import ServiceBinding, serve
from modelyard_common.settings import load_settings
from modelyard_common.tls import client_tls
from modelyard_common.values import DeploymentRuntime
from modelyard_deploy.api.job_servicer import JobServicer
from modelyard_deploy.api.servicer import DeployServicer
from modelyard_deploy.api.worker_servicer import MAX_WORKER_REQUEST_BYTES, BatchWorkerServicer
from modelyard_deploy.domain.changes import Changes
from modelyard_deploy.domain.deployments import Deployments
from modelyard_deploy.domain.events import EventForwarder
from modelyard_deploy.domain.job_runner import JobRunner
from modelyard_deploy.domain.jobs import Jobs
from modelyard_deploy.domain.leadership import lead
from modelyard_deploy.domain.reconcile import Reconciler
from modelyard_deploy.domain.rollout import Policy
from modelyard_deploy.metrics import PrometheusJobObserver, PrometheusObserver
from modelyard_deploy.runtimes.batch import BatchPredictors
from modelyard_deploy.runtimes.batch_workers import WorkerSource
from modelyard_deploy.runtimes.kubernetes import KubernetesCluster, KubernetesConfig
from modelyard_deploy.runtimes.kubernetes_jobs import JobPods, KubernetesJobPods, KubernetesWorkers
from modelyard_deploy.runtimes.local_workers import BatchConfig, LocalWorkers
from modelyard_deploy.runtimes.process import ProcessRuntime, ServingConfig
from modelyard_deploy.runtimes.remote_workers import RemoteWorkers
from modelyard_deploy.runtimes.warm_pool import WarmPool
from modelyard_deploy.scoring.runner import ScoringRunner
from modelyard_deploy.settings import DeploySettings
from modelyard_deploy.storage.catalog import MetadataCatalog, MetadataEvents, ServingCredentials
from modelyard_deploy.storage.job_catalog import PlatformJobCatalog
from modelyard_deploy.storage.jobs import PgJobStore
from modelyard_deploy.storage.leadership import PgLeadership
from modelyard_deploy.storage.notices import PgChangeFeed
from modelyard_deploy.storage.outbox import PgOutbox
from modelyard_deploy.storage.parts import JobFolders, JobParts
from modelyard_deploy.storage.postgres import SERVICE_ACTOR, PgDeploymentStore
from modelyard_serving.launch import ServingTLS

logger = logging.getLogger(__name__)

MIGRATIONS = "modelyard_deploy.migrations"
SERVICE_NAME = deploy_pb2.DESCRIPTOR.services_by_name["DeployService"].full_name
JOBS_SERVICE_NAME = jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name
WORKERS_SERVICE_NAME = batch_workers_pb2.DESCRIPTOR.services_by_name["BatchWorkerService"].full_name


def _kubernetes_config(settings: DeploySettings) -> KubernetesConfig:
    """Pods of deployments and of jobs alike."""
    return KubernetesConfig(
        settings.kubernetes_namespace,
        settings.kubernetes_image,
        settings.kubernetes_metadata_addr or settings.metadata_addr,
        settings.kubernetes_registry_addr or settings.registry_addr,
        tls_secret=settings.kubernetes_tls_secret,
        mutual_tls=settings.tls_client_ca_file is not None,
        serving_credentials=settings.auth_enabled,
        worker_addr=settings.kubernetes_worker_addr,
        worker_server_name=settings.kubernetes_worker_server_name,
    )


async def run(settings: DeploySettings, job_pods: JobPods | None = None) -> int:
    """Serves until SIGTERM (0), or until it stops leading (1: crash-only, a restart follows).
    ``job_pods``: where jobs' pods run when ``jobs_runtime`` is kubernetes; None: the cluster's API."""
    async with AsyncExitStack() as stack:
        pool = await create_pool(settings)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await migrate(conn, MIGRATIONS, schema="deploy")
        client = connect_metadata(settings, SERVICE_ACTOR)
        stack.push_async_callback(client.close)
        credentials = ServingCredentials(client, timedelta(seconds=settings.serving_token_ttl_seconds))
        issue = credentials.issue if settings.auth_enabled else None
        warm = WarmPool(settings.run_dir / "warm", settings.warm_replicas) if settings.warm_replicas else None
        runtime = ProcessRuntime(
            ServingConfig(
                metadata_addr=settings.metadata_addr,
                registry_addr=settings.registry_addr,
                cache_dir=settings.cache_dir,
                run_dir=settings.run_dir,
                stop_grace=settings.replica_stop_grace_seconds,
                scrape_targets_file=settings.scrape_targets_file,
                tls=ServingTLS.like(settings),
            ),
            issue,
            warm,
        )
        logger.warning(
            "the process runtime runs model code as this service's OS user (uid %d), which can read what that user "
            "can: use it for trusted model code only, the kubernetes runtime otherwise (docs/security.md)",
            os.getuid(),
        )
        stack.push_async_callback(runtime.close)
        store = PgDeploymentStore(pool)
        feed = PgChangeFeed(pool, settings.db_dsn, settings.leader_retry_seconds, settings.db_timeout_seconds)
        changes = Changes(feed, settings.reconcile_interval_seconds)
        leadership = PgLeadership(settings.db_dsn, settings.leader_retry_seconds, settings.db_timeout_seconds)
        stack.push_async_callback(leadership.close)
        policy = Policy(
            settings.ready_timeout_seconds,
            settings.restart_backoff_seconds,
            settings.max_failures,
            settings.replica_drain_seconds,
        )
        cluster = None
        if settings.kubernetes_enabled:
            cluster = KubernetesCluster(_kubernetes_config(settings), issue)
        observer = PrometheusObserver()
        reconciler = Reconciler(store, runtime, changes, policy, observer, cluster)
        forwarder = EventForwarder(PgOutbox(pool), MetadataEvents(client), settings.events_interval_seconds)
        changes.subscribe(reconciler.poke)
        runtimes = frozenset(
            {DeploymentRuntime.PROCESS, DeploymentRuntime.KUBERNETES} if cluster else {DeploymentRuntime.PROCESS}
        )
        deployments = Deployments(
            store,
            MetadataCatalog(client),
            ProjectAccess(client if settings.auth_enabled else None),
            changes,
            runtimes,
            DeploymentRuntime(settings.default_runtime.upper()),
            settings.leader_wait_seconds,
            settings.leader_wait_seconds + settings.replica_drain_seconds + settings.replica_stop_grace_seconds,
        )
        servicer = DeployServicer(deployments)
        binding = ServiceBinding(
            SERVICE_NAME, lambda server: deploy_pb2_grpc.add_DeployServiceServicer_to_server(servicer, server)
        )
        job_runner, scoring_runner, job_bindings = _batch(settings, pool, client, credentials, job_pods, stack)
        stop, stopped_leading = asyncio.Event(), []

        async def lead_until_lost() -> None:
            try:
                reason = await lead(
                    leadership,
                    reconciler,
                    settings.reconcile_interval_seconds,
                    observer.leading,
                    {
                        "the event forwarder": forwarder.run_forever,
                        "the job runner": job_runner.run_forever,
                        **({"the warm pool": warm.run_forever} if warm else {}),
                        **({"the scoring runner": scoring_runner.run_forever} if settings.scoring_enabled else {}),
                    },
                )
            except Exception as exc:  # taking the lead failed (adopting leftovers, say): same exit
                logger.exception("leading failed")
                reason = f"leading failed: {exc!r}"
            stopped_leading.append(reason)
            logger.error("%s; stopping this service's replicas and exiting, so that it restarts as a follower", reason)
            stop.set()

        background = [asyncio.create_task(changes.follow()), asyncio.create_task(lead_until_lost())]
        try:
            await serve(settings, [binding, *job_bindings], stop=stop, auth_required=settings.auth_enabled)
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return 1 if stopped_leading else 0


def _batch(
    settings: DeploySettings,
    pool: Any,
    client: modelyard.AsyncClient,
    credentials: ServingCredentials,
    job_pods: JobPods | None,
    stack: AsyncExitStack,
) -> tuple[JobRunner, ScoringRunner, list[ServiceBinding]]:
    """Batch work on predictor workers: the JobService (and, with jobs on kubernetes, the
    BatchWorkerService their pods dial), the runner the leader runs jobs with, and the one it
    runs scoring tests with (on local workers: a test's dataset is small); ``stack`` closes what
    they hold open."""

    def connect(actor: str) -> modelyard.Client:
        return modelyard.connect(
            settings.metadata_addr,
            registry=settings.registry_addr,
            actor=actor,
            timeout=settings.metadata_timeout_seconds,
            tls=client_tls(settings),
            token=settings.auth_token_value(),
            settings_prefix=str(settings.model_config.get("env_prefix", "")),
        )

    store = PgJobStore(pool)
    catalog = PlatformJobCatalog(connect, SERVICE_ACTOR, settings.cache_dir)
    stack.callback(catalog.close)
    jobs_dir = settings.run_dir / "jobs"
    issue = credentials.issue if settings.auth_enabled else None
    config = BatchConfig(
        settings.metadata_addr, settings.registry_addr, settings.cache_dir, jobs_dir, ServingTLS.like(settings)
    )
    local = LocalWorkers(config, issue)
    source: WorkerSource = local
    bindings = []
    if settings.jobs_runtime == "kubernetes":
        hub = RemoteWorkers()
        source = KubernetesWorkers(
            _kubernetes_config(settings),
            job_pods or KubernetesJobPods(settings.kubernetes_namespace),
            hub,
            issue,
            settings.jobs_worker_start_seconds,
            settings.jobs_poll_seconds,
        )
        workers = BatchWorkerServicer(hub)
        bindings.append(
            ServiceBinding(
                WORKERS_SERVICE_NAME,
                lambda server: batch_workers_pb2_grpc.add_BatchWorkerServiceServicer_to_server(workers, server),
                MAX_WORKER_REQUEST_BYTES,
            )
        )
    runner = JobRunner(
        store,
        catalog,
        BatchPredictors(source),
        lambda job_id: JobParts(jobs_dir / job_id),
        JobFolders(jobs_dir),
        PrometheusJobObserver(),
        settings.jobs_max_running,
        settings.jobs_poll_seconds,
    )
    access = ProjectAccess(client if settings.auth_enabled else None)
    servicer = JobServicer(Jobs(store, catalog, access, settings.jobs_poll_seconds))
    bindings.append(
        ServiceBinding(
            JOBS_SERVICE_NAME, lambda server: jobs_pb2_grpc.add_JobServiceServicer_to_server(servicer, server)
        )
    )
    scoring = ScoringRunner(
        client, catalog, BatchPredictors(local), settings.scoring_poll_seconds, settings.scoring_lease_seconds, jobs_dir
    )
    return runner, scoring, bindings


def main() -> None:
    settings = load_settings(DeploySettings)
    configure_logging(settings.log_level, settings.log_format)
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]}")
    sys.exit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
