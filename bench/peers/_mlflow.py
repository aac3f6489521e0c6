"""MLflow, the way the side-by-side benchmark runs it: a virtual environment of its own (made on
demand from PyPI, kept for the next run) and ``mlflow server`` with its 4 workers, on a database
of its own in the benchmark's Postgres and a prefix of its own in its SeaweedFS bucket."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from modelyard_common.embedded import EmbeddedSeaweedFS, ManagedProcess, free_port

__all__ = ["MLFLOW_SERIES", "REQUIREMENTS", "MlflowServer", "mlflow_python"]

MLFLOW_SERIES = "3.17"
"""The MLflow release series this benchmark was written and run against."""
REQUIREMENTS = (f"mlflow=={MLFLOW_SERIES}.*", "psycopg2-binary>=2.9,<3", "boto3>=1.34,<2")
WORKERS = 4
"""``mlflow server``'s default number of workers, passed explicitly."""
_PROBE = "import boto3, mlflow, psycopg2, sklearn; print(mlflow.__version__)"


def mlflow_python(venv: Path) -> tuple[Path, str]:
    """The Python of the MLflow virtual environment ``venv`` and its MLflow version; the
    environment is created, or brought to REQUIREMENTS, first when it needs to be."""
    python = venv / "bin" / "python"
    version = _installed(python)
    if version is None or not version.startswith(f"{MLFLOW_SERIES}."):
        if not python.exists():
            print(f"creating {venv} (MLflow's virtual environment; reused by later runs)", flush=True)
            # The interpreter our own environment was made from: the same Python for both.
            subprocess.run([str(Path(sys.base_prefix) / "bin" / "python3"), "-m", "venv", str(venv)], check=True)
        print(f"installing {' '.join(REQUIREMENTS)} into {venv} (a few minutes)", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
        version = _installed(python)
        if version is None:
            raise RuntimeError(f"{python} cannot import mlflow, psycopg2, boto3 and sklearn after installing them")
    return python, version


def _installed(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True)
    return probe.stdout.strip() if probe.returncode == 0 else None


def s3_environment(seaweedfs: EmbeddedSeaweedFS) -> dict[str, str]:
    """What boto3 in MLflow's server needs to reach the embedded SeaweedFS."""
    return {
        "MLFLOW_S3_ENDPOINT_URL": seaweedfs.endpoint,
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key,
        "AWS_DEFAULT_REGION": seaweedfs.region,
    }


class MlflowServer(ManagedProcess):
    """``mlflow server`` on 127.0.0.1 with WORKERS workers: runs and registry in ``dsn``, artifacts
    proxied by the server into ``s3://<bucket>/mlflow`` (clients never see S3 credentials, as with
    Modelyard's registry)."""

    name = "mlflow"
    start_timeout = 180.0  # its first start creates and migrates the database
    stop_grace = 10.0

    def __init__(self, data_dir: Path, python: Path, dsn: str, seaweedfs: EmbeddedSeaweedFS, bucket: str) -> None:
        super().__init__(data_dir)
        self._bucket = bucket
        self.port = free_port()
        self._mlflow = python.with_name("mlflow")
        # The driver named: SQLAlchemy 2.1 would pick psycopg 3 for a bare "postgresql://".
        self._dsn = dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
        self._env = {**os.environ, **s3_environment(seaweedfs)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        return [
            str(self._mlflow),
            "server",
            "--backend-store-uri",
            self._dsn,
            "--artifacts-destination",
            f"s3://{self._bucket}/mlflow",
            "--workers",
            str(WORKERS),
            # uvicorn restarts a worker that has not answered its health check in 5 s: on a busy
            # machine that kills requests in flight and costs a worker's start-up mid-case.
            "--uvicorn-opts",
            "--timeout-worker-healthcheck 60",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def _popen_options(self) -> dict[str, Any]:
        return {"env": self._env}

    def _is_ready(self) -> bool:
        """Once every worker has started (each takes seconds to import MLflow, which would
        otherwise land in the first cases) and /health answers."""
        started = self.log_path.read_text(errors="replace").count("Application startup complete")
        if started < WORKERS:
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self, grace: float | None = None) -> None:
        """SIGTERM to its process group: the ``mlflow`` command does not pass it on to the
        uvicorn server it runs, nor that server's workers. Whatever is left of the group after
        the grace is killed."""
        if not self.running:
            return super().stop(grace)
        group = self.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        super().stop(grace)
        deadline = time.monotonic() + (self.stop_grace if grace is None else grace)
        with contextlib.suppress(ProcessLookupError):
            while time.monotonic() < deadline:
                os.killpg(group, 0)
                time.sleep(0.1)
            os.killpg(group, signal.SIGKILL)
