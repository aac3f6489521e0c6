"""A Modelyard service run as a child process, for tests and ``make run``."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ._process import ManagedProcess

__all__ = ["HttpServiceProcess", "ServiceProcess"]

_PORT_SETTINGS = {
    "grpc_port": "PORT",
    "http_port": "PORT",
    "metrics_port": "METRICS_PORT",
    "health_port": "HEALTH_PORT",
}
"""Ready-file key -> the setting that binds that port."""


class ServiceProcess(ManagedProcess):
    """Runs ``python -m <module>`` with ``MLREG_<NAME>_*`` settings; ready once it reports SERVING
    (on its plaintext health port, when it serves TLS with one).

    The service binds free ports itself (port 0) unless ``settings`` say otherwise, and writes
    them to a ready file, which is where ``target`` and ``metrics_url`` come from. A restart
    (``stop()`` then ``start()``, or a supervisor's) binds the same ports again, so the addresses
    already handed out stay true.
    """

    start_timeout = 60.0
    stop_signal = 15
    stop_grace = 15.0

    def __init__(self, name: str, module: str, data_dir: Path, settings: dict[str, str]) -> None:
        super().__init__(data_dir)
        self.name = name
        self._module = module
        self._prefix = prefix = f"MLREG_{name.upper()}_"
        self._env = {
            **os.environ,
            f"{prefix}READY_FILE": str(self.ready_file),
            f"{prefix}LOG_FORMAT": "console",
            **{prefix + key.upper(): value for key, value in settings.items()},
        }
        self._ports: dict[str, int] = {}

    @property
    def ready_file(self) -> Path:
        return self.data_dir / f"{self.name}.ready.json"

    @property
    def target(self) -> str:
        """host:port of its gRPC server."""
        return f"127.0.0.1:{self._ports['grpc_port']}"

    @property
    def health_target(self) -> str:
        """host:port where gRPC health answers: the plaintext health port when it has one (TLS)."""
        return f"127.0.0.1:{self._ports.get('health_port', self._ports['grpc_port'])}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self._ports['metrics_port']}/metrics"

    def _prepare(self) -> None:
        for key, number in self._ports.items():
            self._env[self._prefix + _PORT_SETTINGS[key]] = str(number)
        self.ready_file.unlink(missing_ok=True)
        self._ports = {}

    def _popen_options(self) -> dict[str, Any]:
        return {"env": self._env}

    def _command(self) -> list[str]:
        return [sys.executable, "-m", self._module]

    def _is_ready(self) -> bool:
        if not self._ports:
            try:
                self._ports = json.loads(self.ready_file.read_text())
            except (OSError, ValueError):
                return False
        with grpc.insecure_channel(self.health_target) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            except grpc.RpcError:
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


class HttpServiceProcess(ServiceProcess):
    """A service that answers HTTP (the console): ready once ``GET /healthz`` says ok."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._ports['http_port']}"

    def _is_ready(self) -> bool:
        if not self._ports:
            try:
                self._ports = json.loads(self.ready_file.read_text())
            except (OSError, ValueError):
                return False
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False
