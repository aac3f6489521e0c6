"""The platform a benchmark runs against, started in its own folder and stopped by pid: Postgres,
SeaweedFS, metadata and registry services, and the deploy service when asked for."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelyard_common.embedded import EmbeddedPostgres, EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess

__all__ = ["BUCKET", "Stack", "platform_stack", "signals_held"]

BUCKET = "modelyard-artifacts"


@dataclass
class Stack:
    root: Path
    postgres: EmbeddedPostgres
    seaweedfs: EmbeddedSeaweedFS
    metadata: ServiceProcess
    registry: ServiceProcess
    deploy: ServiceProcess | None = None


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ignores Ctrl-C and SIGTERM meanwhile: one arriving while a server is being stopped would
    cut short the wait before its kill and leave it running."""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def platform_stack(
    root: Path, registry_overrides: dict[str, str], deploy_settings: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Postgres, SeaweedFS, metadata and registry, and a deploy service with ``deploy_settings``
    when they are given; stopped in reverse order whatever happens."""
    stack = contextlib.ExitStack()
    try:
        # Not durable: the benchmarks move bytes to S3 or time RPCs; Postgres records a few rows.
        postgres = EmbeddedPostgres(root / "pg", durable=False)
        postgres.start()
        stack.callback(postgres.stop)
        seaweedfs = EmbeddedSeaweedFS(root / "seaweedfs")
        seaweedfs.start()
        stack.callback(seaweedfs.stop)
        dsn = postgres.create_database("bench")
        metadata = ServiceProcess(
            "metadata",
            "modelyard_metadata",
            root / "metadata",
            {"db_dsn": dsn, "redis_url": "", "shutdown_grace_seconds": "1"},
        )
        metadata.start()
        stack.callback(metadata.stop)
        settings = {
            "db_dsn": dsn,
            "metadata_addr": metadata.target,
            "s3_endpoint": seaweedfs.endpoint,
            "s3_access_key": seaweedfs.access_key,
            "s3_secret_key": seaweedfs.secret_key,
            "s3_region": seaweedfs.region,
            "s3_bucket": BUCKET,
            "reconcile_interval_seconds": "0",
            "shutdown_grace_seconds": "1",
            **registry_overrides,
        }
        registry = ServiceProcess("registry", "modelyard_registry", root / "registry", settings)
        registry.start()
        stack.callback(registry.stop)
        deploy = None
        if deploy_settings is not None:
            settings = {
                "db_dsn": dsn,
                "metadata_addr": metadata.target,
                "registry_addr": registry.target,
                "cache_dir": str(root / "deploy" / "cache"),
                "run_dir": str(root / "deploy" / "replicas"),
                "shutdown_grace_seconds": "2",
                **deploy_settings,
            }
            deploy = ServiceProcess("deploy", "modelyard_deploy", root / "deploy", settings)
            deploy.start()
            stack.callback(deploy.stop)
        yield Stack(root, postgres, seaweedfs, metadata, registry, deploy)
    finally:
        print("\nstopping services and stores (SeaweedFS may take a few seconds)", flush=True)
        with signals_held():
            stack.close()
