"""The processes of the console benchmark: Postgres, Redis, the metadata service (authentication
on, with its Redis cache), the deploy service and the console, as a platform runs them."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

import modelyard.aio
from bench._cpu import CpuMeter
from bench._stack import service
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis
from modelyard_common.embedded.service import HttpServiceProcess, ServiceProcess

__all__ = ["Platform"]


class Platform:
    """The processes of the run, started in ``root`` (entered into ``stack``, stopped in reverse)."""

    def __init__(self, root: Path, stack: contextlib.ExitStack) -> None:
        self.tokens = {who: "myd_" + secrets.token_urlsafe(32) for who in ("admin", "registry", "deploy")}
        self.postgres = stack.enter_context(EmbeddedPostgres(root / "pg", durable=False))
        self.redis = stack.enter_context(EmbeddedRedis(root / "redis"))
        self.dsn = self.postgres.create_database("bench")
        services = {f"modelyard-{who}": self.tokens[who] for who in ("registry", "deploy")}
        auth = {"auth_enabled": "true"}
        metadata_settings = {"admin_token": self.tokens["admin"], "service_tokens": json.dumps(services)}
        self.metadata: ServiceProcess = stack.enter_context(
            service(
                "metadata",
                root / "metadata",
                {"db_dsn": self.dsn, "redis_url": self.redis.url, **auth, **metadata_settings},
            )
        )
        # No registry: the pages timed here read no artifact bytes, and no deployment starts.
        self.deploy: ServiceProcess = stack.enter_context(
            service(
                "deploy",
                root / "deploy",
                {
                    "db_dsn": self.dsn,
                    "metadata_addr": self.metadata.target,
                    "auth_token": self.tokens["deploy"],
                    "cache_dir": str(root / "deploy" / "cache"),
                    "run_dir": str(root / "deploy" / "replicas"),
                    **auth,
                },
            )
        )
        settings = {
            "metadata_addr": self.metadata.target,
            "deploy_addr": self.deploy.target,
            "redis_url": self.redis.url,
        }
        self.console: HttpServiceProcess = stack.enter_context(
            HttpServiceProcess(
                "console", "modelyard_console", root / "console", {**settings, "shutdown_grace_seconds": "1"}
            )
        )

    def client(self, token: str, actor: str) -> modelyard.aio.AsyncClient:
        """An SDK client of the metadata and deploy services, as the console makes one."""
        return modelyard.aio.connect(
            self.metadata.target, deploy=self.deploy.target, token=token, actor=actor, timeout=10
        )

    def meter(self) -> CpuMeter:
        return CpuMeter(
            {
                "client": (os.getpid(), False),
                "console": (self.console.pid, False),
                "metadata": (self.metadata.pid, False),
                "deploy": (self.deploy.pid, True),
                "postgres": (self.postgres.pid, True),
                "redis": (self.redis.pid, False),
            }
        )
