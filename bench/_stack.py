"""The processes a benchmark runs against, started in its scratch folder and stopped by pid: the
stores and services of ``modelyard_common.embedded``, stopped in reverse order whatever happens."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess

__all__ = ["BUCKET", "Stack", "platform_stack", "processes", "service", "signals_held"]

BUCKET = "modelyard-artifacts"


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
def processes(what: str = "services and stores") -> Iterator[contextlib.ExitStack]:
    """An ExitStack to enter the processes of a run into (``what`` they are, for the message);
    they stop in reverse order, with the signals held, however the block ends."""
    stack = contextlib.ExitStack()
    try:
        yield stack
    finally:
        print(f"\nstopping {what}", flush=True)
        with signals_held():
            stack.close()


def service(kind: str, folder: Path, settings: dict[str, str]) -> ServiceProcess:
    """``python -m modelyard_<kind>`` with ``settings``; a 1 s shutdown grace unless they say."""
    return ServiceProcess(kind, f"modelyard_{kind}", folder, {"shutdown_grace_seconds": "1", **settings})


@dataclass
class Stack:
    root: Path
    postgres: EmbeddedPostgres
    seaweedfs: EmbeddedSeaweedFS
    metadata: ServiceProcess
    registry: ServiceProcess
    deploy: ServiceProcess | None = None
    redis: EmbeddedRedis | None = None

    def parties(self) -> dict[str, tuple[int, bool]]:
        """Its processes and the benchmark's own ("client"), for a CpuMeter: Postgres with its
        backends, the deploy service with its replicas."""
        parties = {
            "client": (os.getpid(), False),
            "registry": (self.registry.pid, False),
            "seaweedfs": (self.seaweedfs.pid, False),
            "postgres": (self.postgres.pid, True),
            "metadata": (self.metadata.pid, False),
        }
        if self.deploy is not None:
            parties["deploy"] = (self.deploy.pid, True)
        if self.redis is not None:
            parties["redis"] = (self.redis.pid, False)
        return parties


@contextlib.contextmanager
def platform_stack(
    root: Path,
    registry_overrides: dict[str, str],
    deploy_settings: dict[str, str] | None = None,
    *,
    durable: bool = False,
    cache: bool = False,
) -> Iterator[Stack]:
    """Postgres, SeaweedFS, metadata and registry, and a deploy service with ``deploy_settings``
    when they are given. Postgres is durable and the metadata service has its Redis cache only
    when asked: most of these benchmarks move bytes to S3 or time RPCs, and Postgres records a
    few rows."""
    with processes() as stack:
        postgres = stack.enter_context(EmbeddedPostgres(root / "pg", durable=durable))
        seaweedfs = stack.enter_context(EmbeddedSeaweedFS(root / "seaweedfs"))
        redis = stack.enter_context(EmbeddedRedis(root / "redis")) if cache else None
        dsn = postgres.create_database("bench")
        redis_url = redis.url if redis is not None else ""
        metadata = stack.enter_context(service("metadata", root / "metadata", {"db_dsn": dsn, "redis_url": redis_url}))
        settings = {
            "db_dsn": dsn,
            "metadata_addr": metadata.target,
            "s3_endpoint": seaweedfs.endpoint,
            "s3_access_key": seaweedfs.access_key,
            "s3_secret_key": seaweedfs.secret_key,
            "s3_region": seaweedfs.region,
            "s3_bucket": BUCKET,
            "reconcile_interval_seconds": "0",
            **registry_overrides,
        }
        registry = stack.enter_context(service("registry", root / "registry", settings))
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
            deploy = stack.enter_context(service("deploy", root / "deploy", settings))
        yield Stack(root, postgres, seaweedfs, metadata, registry, deploy, redis)
